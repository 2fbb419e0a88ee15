#include "remote/remote_value.hpp"

#include <algorithm>
#include <cstring>

#include <xxhash.h>

#include "disk/format_fields.hpp"

namespace larder::remote {
namespace {

using disk::get_field;
using disk::put_field;

constexpr std::uint8_t manifest_version = 1;
// The manifest's checksum covers its first 24 bytes.
constexpr std::size_t manifest_checked = 24;

}  // namespace

std::string remote_key(std::string_view prefix, std::string_view cache_name, std::string_view key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  char hex[33];
  static constexpr char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    const std::uint64_t half = i < 8 ? h.high64 : h.low64;
    const int shift = (7 - i % 8) * 8;
    const auto byte = static_cast<unsigned>((half >> shift) & 0xff);
    hex[2 * i] = digits[byte >> 4];
    hex[2 * i + 1] = digits[byte & 0xf];
  }
  hex[32] = '\0';
  std::string out;
  out.reserve(prefix.size() + cache_name.size() + 37);
  out.append(prefix).append(":").append(cache_name).append(":{").append(hex, 32).append("}");
  return out;
}

std::string chunk_key(std::string_view entry_key, std::uint32_t index) {
  std::string out(entry_key);
  out += ':';
  out += std::to_string(index);
  return out;
}

std::vector<std::byte> encode_value(std::string_view key, std::span<const std::byte> value,
                                    std::int64_t expires_at_unix_ns,
                                    const disk::compression_settings& compression) {
  // Compression only ever shrinks what is stored, so the raw size bounds the encoding.
  std::vector<std::byte> out(disk::encoded_size(key.size(), value.size()));
  const std::optional<std::size_t> n =
      disk::encode_entry(out, key, value, expires_at_unix_ns, compression);
  out.resize(*n);
  return out;
}

std::vector<std::byte> encode_manifest(const chunk_manifest& manifest) {
  std::vector<std::byte> out(manifest_size);
  std::byte* h = out.data();
  put_field<std::uint32_t>(h, manifest_magic);
  put_field<std::uint8_t>(h + 4, manifest_version);
  put_field<std::uint32_t>(h + 8, manifest.chunks);
  put_field<std::uint32_t>(h + 12, manifest.chunk_size);
  put_field<std::uint64_t>(h + 16, manifest.total_size);
  put_field<std::uint64_t>(h + 24, XXH3_64bits(h, manifest_checked));
  return out;
}

std::optional<chunk_manifest> decode_manifest(std::span<const std::byte> stored) noexcept {
  if (stored.size() != manifest_size) return std::nullopt;
  const std::byte* h = stored.data();
  if (get_field<std::uint32_t>(h) != manifest_magic ||
      get_field<std::uint8_t>(h + 4) != manifest_version ||
      get_field<std::uint64_t>(h + 24) != XXH3_64bits(h, manifest_checked)) {
    return std::nullopt;
  }
  chunk_manifest m{.chunks = get_field<std::uint32_t>(h + 8),
                   .chunk_size = get_field<std::uint32_t>(h + 12),
                   .total_size = get_field<std::uint64_t>(h + 16)};
  // A manifest whose figures do not agree would have us read chunks that cannot be right.
  if (m.chunk_size == 0 || m.chunks != chunk_count(m.total_size, m.chunk_size)) return std::nullopt;
  return m;
}

std::uint32_t chunk_count(std::size_t encoded_size, std::uint32_t chunk_size) noexcept {
  return static_cast<std::uint32_t>((encoded_size + chunk_size - 1) / chunk_size);
}

std::span<const std::byte> chunk_of(std::span<const std::byte> encoded, std::uint32_t chunk_size,
                                    std::uint32_t i) noexcept {
  const std::size_t begin = static_cast<std::size_t>(i) * chunk_size;
  const std::size_t end = std::min(encoded.size(), begin + chunk_size);
  return encoded.subspan(begin, end - begin);
}

decoded_value decode_value(std::span<const std::byte> stored, std::string_view key,
                           std::int64_t now_unix_ns) {
  disk::entry_view entry;
  // A value is exactly one entry: trailing bytes mean it is not ours.
  if (disk::decode_entry(stored, entry) != disk::decode_status::ok || entry.tombstone() ||
      entry.encoded_size != stored.size()) {
    return {};
  }
  // The padding to the entry's alignment is outside its checksum: it must be the zeros written.
  const std::size_t used = disk::entry_header_size + entry.key.size() + entry.stored.size();
  for (std::size_t i = used; i < stored.size(); ++i) {
    if (stored[i] != std::byte{0}) return {};
  }
  if (entry.key != key) return {decode_outcome::other_key, std::nullopt, 0};
  if (entry.expires_at_unix_ns != 0 && entry.expires_at_unix_ns <= now_unix_ns) {
    return {decode_outcome::expired, std::nullopt, 0};
  }
  std::optional<blob> value = disk::decode_value(entry);
  if (!value) return {};
  return {.outcome = decode_outcome::value,
          .value = std::move(value),
          .expires_at_unix_ns = entry.expires_at_unix_ns};
}

}  // namespace larder::remote
