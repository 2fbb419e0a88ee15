// entry_format: how one cache entry is laid out in a disk-tier region.
//
// 1. Layout. A 32-byte header, the key, then the stored value bytes (zstd-compressed or raw),
//    padded with zeros to a multiple of 8 so that the next header is aligned:
//
//      offset  size  field
//           0     4  magic "LRDE" (0x4544524c little-endian); zero marks the end of a region
//           4     1  format version (1)
//           5     1  flags: bit 0 = value stored zstd-compressed; bit 1 = tombstone (the key
//                    was erased; no value)
//           6     2  key size
//           8     4  stored size (bytes after the key)
//          12     4  value size (after decompression)
//          16     8  expiry, Unix nanoseconds; 0 = never
//          24     8  checksum: xxh3-64 over bytes 0..23, the key and the stored bytes
//
//    All integers little-endian (the machines larder runs on are; a static_assert says so).
// 2. Integrity. The checksum covers the header fields too, so a torn or bit-flipped header is
//    caught like torn data; decode_entry() never returns bytes whose checksum fails, and checks
//    every size against the bytes available before reading them (a corrupt size cannot make it
//    read out of bounds).
// 3. Compression only when it pays: the value is stored compressed only if that saves at least
//    min_saving of its size; otherwise raw, and the flag says so.
//
// Pure functions on caller buffers: safe from any thread.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <larder/cache/blob.hpp>

namespace larder::disk {

static_assert(std::endian::native == std::endian::little,
              "the disk format is little-endian; a big-endian port must byte-swap");

inline constexpr std::uint32_t entry_magic = 0x4544524c;
inline constexpr std::uint8_t entry_format_version = 1;
inline constexpr std::size_t entry_header_size = 32;
inline constexpr std::size_t entry_alignment = 8;
inline constexpr std::size_t max_key_size = 0xffff;

struct compression_settings {
  bool enabled = false;
  int level = 3;
  // Store compressed only if that saves at least this share of the value's size.
  double min_saving = 0.05;
};

// Bytes an entry takes in a region, padding included, with `stored_size` value bytes.
constexpr std::size_t encoded_size(std::size_t key_size, std::size_t stored_size) noexcept {
  const std::size_t raw = entry_header_size + key_size + stored_size;
  return (raw + entry_alignment - 1) / entry_alignment * entry_alignment;
}

// Encodes an entry into `out`, compressing the value when settings ask and it pays. Returns the
// bytes written (encoded_size of what was stored), or nullopt when `out` is too small, in which
// case `out` may hold garbage. REQUIRES: key.size() <= max_key_size, value below 4 GiB.
std::optional<std::size_t> encode_entry(std::span<std::byte> out, std::string_view key,
                                        std::span<const std::byte> value,
                                        std::int64_t expires_at_unix_ns,
                                        const compression_settings& settings);

// Encodes a tombstone for key: its presence in the log removes the key's earlier entries when the
// log is scanned. Returns the bytes written, or nullopt when `out` is too small.
std::optional<std::size_t> encode_tombstone(std::span<std::byte> out, std::string_view key);

struct entry_view {
  std::uint8_t flags = 0;
  std::uint32_t value_size = 0;
  std::int64_t expires_at_unix_ns = 0;
  std::string_view key;
  std::span<const std::byte> stored;
  std::size_t encoded_size = 0;  // bytes to the next entry
  bool compressed() const noexcept { return (flags & 1u) != 0; }
  bool tombstone() const noexcept { return (flags & 2u) != 0; }
};

enum class decode_status {
  ok,
  end_of_region,  // a zero magic: nothing was ever written here
  corrupt,        // anything else that does not verify
};

// Reads the entry at the start of `in`. On ok, `out` points into `in`.
decode_status decode_entry(std::span<const std::byte> in, entry_view& out) noexcept;

// The value of a verified entry as a blob: decompressed into a new buffer, or, for a raw entry,
// a copy of the stored bytes. Returns nullopt if decompression fails or yields the wrong size
// (a corrupt entry whose checksum happened to match is not returned as data).
std::optional<blob> decode_value(const entry_view& entry);

}  // namespace larder::disk
