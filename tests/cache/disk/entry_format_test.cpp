#include "disk/entry_format.hpp"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace larder::disk {
namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out)
    b = static_cast<std::byte>(rng());
  return out;
}

std::vector<std::byte> encode(std::string_view key, std::span<const std::byte> value,
                              const compression_settings& settings = {}, std::int64_t expires = 0) {
  std::vector<std::byte> out(encoded_size(key.size(), value.size()) + 64);
  auto n = encode_entry(out, key, value, expires, settings);
  EXPECT_TRUE(n);
  out.resize(n.value_or(0));
  return out;
}

TEST(EntryFormat, RawEntryRoundTrips) {
  const auto value = bytes_of("the quick brown fox");
  const auto encoded = encode("sample/1", value, {}, 1234);
  EXPECT_EQ(encoded.size(), encoded_size(8, value.size()));
  EXPECT_EQ(encoded.size() % entry_alignment, 0u);
  entry_view e;
  ASSERT_EQ(decode_entry(encoded, e), decode_status::ok);
  EXPECT_EQ(e.key, "sample/1");
  EXPECT_FALSE(e.compressed());
  EXPECT_EQ(e.expires_at_unix_ns, 1234);
  EXPECT_EQ(e.encoded_size, encoded.size());
  auto back = decode_value(e);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->view(), "the quick brown fox");
}

TEST(EntryFormat, CompressibleValueIsStoredCompressed) {
  const std::string text(100000, 'a');
  const auto encoded = encode("k", bytes_of(text), {.enabled = true});
  EXPECT_LT(encoded.size(), 1000u);
  entry_view e;
  ASSERT_EQ(decode_entry(encoded, e), decode_status::ok);
  EXPECT_TRUE(e.compressed());
  EXPECT_EQ(e.value_size, text.size());
  EXPECT_EQ(decode_value(e)->view(), text);
}

TEST(EntryFormat, IncompressibleValueIsStoredRaw) {
  const auto value = random_bytes(4096, 7);
  const auto encoded = encode("k", value, {.enabled = true});
  entry_view e;
  ASSERT_EQ(decode_entry(encoded, e), decode_status::ok);
  EXPECT_FALSE(e.compressed());
  EXPECT_EQ(std::memcmp(decode_value(e)->data(), value.data(), value.size()), 0);
}

TEST(EntryFormat, CompressionMustSaveTheConfiguredShare) {
  // Half random, half zeros: compresses to a little over half.
  auto value = random_bytes(8192, 3);
  std::fill(value.begin() + 4096, value.end(), std::byte{0});
  entry_view e;
  auto loose = encode("k", value, {.enabled = true, .min_saving = 0.3});
  ASSERT_EQ(decode_entry(loose, e), decode_status::ok);
  EXPECT_TRUE(e.compressed());
  auto strict = encode("k", value, {.enabled = true, .min_saving = 0.6});
  ASSERT_EQ(decode_entry(strict, e), decode_status::ok);
  EXPECT_FALSE(e.compressed());
}

TEST(EntryFormat, EncodeRefusesAnOutputTooSmall) {
  std::vector<std::byte> out(40);
  EXPECT_FALSE(encode_entry(out, "key", bytes_of("0123456789"), 0, {}));
}

TEST(EntryFormat, ZerosMarkTheEndOfARegion) {
  std::vector<std::byte> zeros(4096);
  entry_view e;
  EXPECT_EQ(decode_entry(zeros, e), decode_status::end_of_region);
}

// Every single-byte corruption of an entry, in the header, the key, the value or the padding
// checksum coverage, is detected.
TEST(EntryFormat, EveryFlippedByteIsDetected) {
  for (bool compress : {false, true}) {
    const std::string text = "a value with some repetition repetition repetition repetition";
    auto encoded = encode("dataset/sample/42", bytes_of(text), {.enabled = compress});
    const std::size_t covered =
        entry_header_size + 17 + (compress ? 0 : text.size());  // all but the padding
    for (std::size_t i = 0; i < encoded.size(); ++i) {
      auto damaged = encoded;
      damaged[i] ^= std::byte{0x5a};
      entry_view e;
      const auto status = decode_entry(damaged, e);
      if (i < covered || (compress && i < encoded.size() - entry_alignment)) {
        EXPECT_EQ(status, decode_status::corrupt) << "byte " << i << " compress " << compress;
      }
    }
  }
}

TEST(EntryFormat, TruncatedEntryIsCorruptAndNeverReadPastTheInput) {
  const auto encoded = encode("key", bytes_of("value bytes"));
  for (std::size_t n = 1; n < encoded.size(); ++n) {
    // A copy of exactly n bytes: ASan catches any read past it.
    std::vector<std::byte> prefix(encoded.begin(), encoded.begin() + static_cast<long>(n));
    entry_view e;
    EXPECT_NE(decode_entry(prefix, e), decode_status::ok) << n;
  }
}

TEST(EntryFormat, RandomGarbageNeverDecodes) {
  for (unsigned seed = 0; seed < 2000; ++seed) {
    auto garbage = random_bytes(256, seed);
    // Make some of them look like entries, so the size checks are exercised.
    if (seed % 2 == 0) {
      const std::uint32_t magic = entry_magic;
      std::memcpy(garbage.data(), &magic, 4);
      garbage[4] = std::byte{entry_format_version};
    }
    entry_view e;
    EXPECT_NE(decode_entry(garbage, e), decode_status::ok) << seed;
  }
}

TEST(EntryFormat, ACompressedEntryThatLiesAboutItsSizeIsNotReturned) {
  const std::string text(5000, 'z');
  auto encoded = encode("k", bytes_of(text), {.enabled = true});
  entry_view e;
  ASSERT_EQ(decode_entry(encoded, e), decode_status::ok);
  e.value_size = 4000;  // as if a corrupt header had slipped past the checksum
  EXPECT_FALSE(decode_value(e));
}

}  // namespace
}  // namespace larder::disk
