// The remote tier's value format: entries verified end to end, chunk manifests, and keys whose
// chunks share a Redis Cluster hash tag.
#include "remote/remote_value.hpp"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace larder::remote {
namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

std::string text_of(const blob& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

constexpr std::int64_t now = 1'000'000'000'000;

TEST(RemoteValue, RoundTripsRawAndCompressedValues) {
  const std::string incompressible = "x7#Qz!";
  const std::string compressible(100'000, 'a');
  for (const bool compress : {false, true}) {
    for (const std::string& value : {incompressible, compressible, std::string()}) {
      const auto stored = encode_value("sample/1", bytes_of(value), 0, {.enabled = compress});
      const decoded_value d = decode_value(stored, "sample/1", now);
      ASSERT_EQ(d.outcome, decode_outcome::value);
      EXPECT_EQ(text_of(*d.value), value);
      EXPECT_EQ(d.expires_at_unix_ns, 0);
    }
  }
  // Compression pays on the repetitive value and is used.
  EXPECT_LT(encode_value("k", bytes_of(compressible), 0, {.enabled = true}).size(), 1000u);
}

TEST(RemoteValue, EveryFlippedByteIsDetected) {
  const auto stored = encode_value("sample/7", bytes_of("payload bytes"), now + 5, {});
  for (std::size_t i = 0; i < stored.size(); ++i) {
    auto damaged = stored;
    damaged[i] ^= std::byte{0x40};
    const decoded_value d = decode_value(damaged, "sample/7", now);
    EXPECT_NE(d.outcome, decode_outcome::value) << "byte " << i;
    EXPECT_FALSE(d.value.has_value());
  }
}

TEST(RemoteValue, ForeignBytesTruncationAndTrailingBytesAreCorrupt) {
  const auto stored = encode_value("k", bytes_of("value"), 0, {});
  EXPECT_EQ(decode_value(bytes_of("hello from another program"), "k", now).outcome,
            decode_outcome::corrupt);
  EXPECT_EQ(decode_value({}, "k", now).outcome, decode_outcome::corrupt);
  auto truncated = stored;
  truncated.pop_back();
  EXPECT_EQ(decode_value(truncated, "k", now).outcome, decode_outcome::corrupt);
  auto longer = stored;
  longer.push_back(std::byte{0});
  EXPECT_EQ(decode_value(longer, "k", now).outcome, decode_outcome::corrupt);
}

TEST(RemoteValue, AnotherKeysEntryAndAnExpiredOneAreNotValues) {
  const auto stored = encode_value("key/a", bytes_of("v"), now + 10, {});
  EXPECT_EQ(decode_value(stored, "key/b", now).outcome, decode_outcome::other_key);
  EXPECT_EQ(decode_value(stored, "key/a", now + 10).outcome, decode_outcome::expired);
  const decoded_value live = decode_value(stored, "key/a", now + 9);
  ASSERT_EQ(live.outcome, decode_outcome::value);
  EXPECT_EQ(live.expires_at_unix_ns, now + 10);
}

TEST(RemoteValue, KeysAreNamespacedAndChunksShareTheHashTag) {
  const std::string key = remote_key("larder", "training_cache", "ds/abc/42");
  ASSERT_EQ(key.size(), std::string("larder:training_cache:{}").size() + 32);
  EXPECT_EQ(key.rfind("larder:training_cache:{", 0), 0u);
  EXPECT_EQ(key.back(), '}');
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef", 23), key.size() - 1);
  EXPECT_EQ(chunk_key(key, 3), key + ":3");
  // Another cache, prefix or key gives another key; the same gives the same.
  EXPECT_EQ(key, remote_key("larder", "training_cache", "ds/abc/42"));
  EXPECT_NE(key, remote_key("larder", "model_cache", "ds/abc/42"));
  EXPECT_NE(key, remote_key("other", "training_cache", "ds/abc/42"));
  EXPECT_NE(key, remote_key("larder", "training_cache", "ds/abc/43"));
}

TEST(RemoteValue, ChunksReassembleTheEncoding) {
  std::string value(10'000, '\0');
  for (std::size_t i = 0; i < value.size(); ++i)
    value[i] = static_cast<char>(i * 7 % 253);
  const auto stored = encode_value("big", bytes_of(value), 0, {});
  const std::uint32_t chunk = 4096;
  const std::uint32_t n = chunk_count(stored.size(), chunk);
  EXPECT_EQ(n, (stored.size() + chunk - 1) / chunk);
  std::vector<std::byte> joined;
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto part = chunk_of(stored, chunk, i);
    EXPECT_EQ(part.size(), i + 1 < n ? chunk : stored.size() - (n - 1) * chunk);
    joined.insert(joined.end(), part.begin(), part.end());
  }
  EXPECT_EQ(joined, stored);
}

TEST(RemoteValue, ManifestRoundTripsAndRejectsDamage) {
  const chunk_manifest m{.chunks = 3, .chunk_size = 4096, .total_size = 10'000};
  const auto stored = encode_manifest(m);
  ASSERT_EQ(stored.size(), manifest_size);
  const auto back = decode_manifest(stored);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->chunks, 3u);
  EXPECT_EQ(back->chunk_size, 4096u);
  EXPECT_EQ(back->total_size, 10'000u);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    auto damaged = stored;
    damaged[i] ^= std::byte{1};
    EXPECT_FALSE(decode_manifest(damaged).has_value()) << "byte " << i;
  }
  // Figures that disagree are refused even with a valid checksum.
  EXPECT_FALSE(
      decode_manifest(encode_manifest({.chunks = 2, .chunk_size = 4096, .total_size = 10'000})));
  EXPECT_FALSE(decode_manifest(encode_manifest({.chunks = 0, .chunk_size = 0, .total_size = 0})));
  // An entry is not a manifest, and a manifest is not an entry.
  EXPECT_FALSE(decode_manifest(encode_value("k", bytes_of("v"), 0, {})));
  EXPECT_EQ(decode_value(stored, "k", now).outcome, decode_outcome::corrupt);
}

}  // namespace
}  // namespace larder::remote
