// remote_value: how the remote tier stores a cache entry in Redis.
//
// 1. One format for both persistent tiers. A value is stored as a disk-tier entry
//    (disk/entry_format.hpp): header, the full key, the value (zstd-compressed when that pays),
//    and an xxh3 checksum over all of it. So a value written by one larder process is verified by
//    another end to end, a value that another program (or a bit flip, or a partial write) put
//    under our key fails the checksum, and a key-hash collision is settled by comparing full keys.
// 2. Keys. An entry of cache C under key K lives at "<prefix>:<C>:{<xxh3-128 of K, hex>}". The
//    braces are a Redis Cluster hash tag: the entry's chunks ("...}:1", "...}:2", ...) land in the
//    same hash slot, so one MGET reads them all. Hashing bounds the key's length and keeps an
//    operator's braces out of the tag. The cache name and K (which for dataset samples carries the
//    dataset's fingerprint, dataset_cache.hpp) namespace the entry.
// 3. Chunks. An encoded entry larger than the chunk size is cut into chunks of that size stored
//    under the chunk keys, and the entry's own key holds a 32-byte manifest instead (magic "LRCM",
//    version, chunk count, chunk size, total size, xxh3 of the manifest). The chunks are written
//    before the manifest, so a reader that finds the manifest finds its chunks; a chunk that is
//    missing, expired, or from another write of the same key fails the entry's checksum: a miss.
//
// Pure functions: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <larder/cache/blob.hpp>

#include "disk/entry_format.hpp"

namespace larder::remote {

inline constexpr std::uint32_t manifest_magic = 0x4d43524c;  // "LRCM"
inline constexpr std::size_t manifest_size = 32;

// The Redis key of cache `cache_name`'s entry `key`.
std::string remote_key(std::string_view prefix, std::string_view cache_name, std::string_view key);
// The key of chunk `index` (from 1) of the entry at `entry_key`.
std::string chunk_key(std::string_view entry_key, std::uint32_t index);

// The entry as stored bytes (design note 1). REQUIRES: key.size() <= disk::max_key_size, value
// below 4 GiB.
std::vector<std::byte> encode_value(std::string_view key, std::span<const std::byte> value,
                                    std::int64_t expires_at_unix_ns,
                                    const disk::compression_settings& compression);

struct chunk_manifest {
  std::uint32_t chunks = 0;
  std::uint32_t chunk_size = 0;
  std::uint64_t total_size = 0;
};

std::vector<std::byte> encode_manifest(const chunk_manifest& manifest);
// The manifest in `stored`, or nullopt when it is not a valid one.
std::optional<chunk_manifest> decode_manifest(std::span<const std::byte> stored) noexcept;
// Bytes [i * chunk_size, ...) of `encoded` for chunk i (from 0).
std::span<const std::byte> chunk_of(std::span<const std::byte> encoded, std::uint32_t chunk_size,
                                    std::uint32_t i) noexcept;
std::uint32_t chunk_count(std::size_t encoded_size, std::uint32_t chunk_size) noexcept;

enum class decode_outcome {
  value,      // verified, for this key, not expired
  corrupt,    // not an entry, or one that fails its checksum or decompression
  other_key,  // a verified entry of a different key (a hash collision)
  expired,
};

struct decoded_value {
  decode_outcome outcome = decode_outcome::corrupt;
  std::optional<blob> value;            // set when outcome is value
  std::int64_t expires_at_unix_ns = 0;  // 0: never
};

// Verifies `stored` as the entry of `key` at time `now_unix_ns`.
decoded_value decode_value(std::span<const std::byte> stored, std::string_view key,
                           std::int64_t now_unix_ns);

}  // namespace larder::remote
