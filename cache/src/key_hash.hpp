// The hash of a cache key: xxh3-64, inlined, so every component that places a key (memory shards,
// single flight, later the disk index) agrees on it and the hit path makes no library call.
#pragma once

#include <cstdint>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace larder {

inline std::uint64_t hash_key(std::string_view key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}

}  // namespace larder
