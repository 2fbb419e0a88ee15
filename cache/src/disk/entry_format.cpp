#include "disk/entry_format.hpp"

#include <cstring>
#include <limits>
#include <vector>

#include <zstd.h>

#include "disk/entry_checksum.hpp"
#include "disk/format_fields.hpp"

namespace larder::disk {
namespace {

// Compresses into a per-thread scratch buffer; returns the compressed bytes if they save enough.
std::optional<std::span<const std::byte>> compress_if_it_pays(std::span<const std::byte> value,
                                                              const compression_settings& s) {
  thread_local std::vector<std::byte> scratch;
  scratch.resize(ZSTD_compressBound(value.size()));
  const std::size_t n =
      ZSTD_compress(scratch.data(), scratch.size(), value.data(), value.size(), s.level);
  if (ZSTD_isError(n)) return std::nullopt;
  const double limit = static_cast<double>(value.size()) * (1.0 - s.min_saving);
  if (static_cast<double>(n) > limit) return std::nullopt;
  return std::span<const std::byte>(scratch.data(), n);
}

std::optional<std::size_t> write_entry(std::span<std::byte> out, std::string_view key,
                                       std::span<const std::byte> stored, std::uint32_t value_size,
                                       std::uint8_t flags, std::int64_t expires_at_unix_ns);

}  // namespace

std::optional<std::size_t> encode_entry(std::span<std::byte> out, std::string_view key,
                                        std::span<const std::byte> value,
                                        std::int64_t expires_at_unix_ns,
                                        const compression_settings& settings) {
  std::span<const std::byte> stored = value;
  std::uint8_t flags = 0;
  if (settings.enabled && !value.empty()) {
    if (auto compressed = compress_if_it_pays(value, settings)) {
      stored = *compressed;
      flags |= 1u;
    }
  }
  return write_entry(out, key, stored, static_cast<std::uint32_t>(value.size()), flags,
                     expires_at_unix_ns);
}

std::optional<std::size_t> encode_tombstone(std::span<std::byte> out, std::string_view key) {
  return write_entry(out, key, {}, 0, 2u, 0);
}

namespace {

std::optional<std::size_t> write_entry(std::span<std::byte> out, std::string_view key,
                                       std::span<const std::byte> stored, std::uint32_t value_size,
                                       std::uint8_t flags, std::int64_t expires_at_unix_ns) {
  const std::size_t total = encoded_size(key.size(), stored.size());
  if (total > out.size()) return std::nullopt;
  std::byte* h = out.data();
  put_field<std::uint32_t>(h, entry_magic);
  put_field<std::uint8_t>(h + 4, entry_format_version);
  put_field<std::uint8_t>(h + 5, flags);
  put_field<std::uint16_t>(h + 6, static_cast<std::uint16_t>(key.size()));
  put_field<std::uint32_t>(h + 8, static_cast<std::uint32_t>(stored.size()));
  put_field<std::uint32_t>(h + 12, value_size);
  put_field<std::int64_t>(h + 16, expires_at_unix_ns);
  std::memcpy(h + entry_header_size, key.data(), key.size());
  if (!stored.empty()) {
    std::memcpy(h + entry_header_size + key.size(), stored.data(), stored.size());
  }
  const std::size_t used = entry_header_size + key.size() + stored.size();
  std::memset(h + used, 0, total - used);
  put_field<std::uint64_t>(h + 24, entry_checksum(h, key, stored));
  return total;
}

}  // namespace

decode_status decode_entry(std::span<const std::byte> in, entry_view& out) noexcept {
  if (in.size() < entry_header_size) {
    return in.size() >= 4 && get_field<std::uint32_t>(in.data()) == 0 ? decode_status::end_of_region
                                                                      : decode_status::corrupt;
  }
  const std::byte* h = in.data();
  const auto magic = get_field<std::uint32_t>(h);
  if (magic == 0) return decode_status::end_of_region;
  if (magic != entry_magic || get_field<std::uint8_t>(h + 4) != entry_format_version) {
    return decode_status::corrupt;
  }
  const auto key_size = get_field<std::uint16_t>(h + 6);
  const auto stored_size = get_field<std::uint32_t>(h + 8);
  const std::size_t total = encoded_size(key_size, stored_size);
  if (total > in.size()) return decode_status::corrupt;
  const std::string_view key(reinterpret_cast<const char*>(h + entry_header_size), key_size);
  const std::span<const std::byte> stored(h + entry_header_size + key_size, stored_size);
  if (entry_checksum(h, key, stored) != get_field<std::uint64_t>(h + 24))
    return decode_status::corrupt;
  out.flags = get_field<std::uint8_t>(h + 5);
  out.value_size = get_field<std::uint32_t>(h + 12);
  out.expires_at_unix_ns = get_field<std::int64_t>(h + 16);
  out.key = key;
  out.stored = stored;
  out.encoded_size = total;
  if (!out.compressed() && out.value_size != stored_size) return decode_status::corrupt;
  return decode_status::ok;
}

std::optional<blob> decode_value(const entry_view& entry) {
  if (!entry.compressed()) return blob::copy_of(entry.stored);
  io::aligned_buffer buffer(entry.value_size);
  const std::size_t n =
      ZSTD_decompress(buffer.data(), buffer.size(), entry.stored.data(), entry.stored.size());
  if (ZSTD_isError(n) || n != entry.value_size) return std::nullopt;
  return blob::from_buffer(std::move(buffer));
}

}  // namespace larder::disk
