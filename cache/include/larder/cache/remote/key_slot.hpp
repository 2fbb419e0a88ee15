// key_slot: the Redis Cluster hash slot of a key, the number that decides which node holds it.
//
// The slot is CRC16 (the XMODEM variant: polynomial 0x1021, initial value 0, no reflection) of
// the key, mod 16384. When the key holds a hash tag, a '{' followed later by a '}' with at least
// one byte between them, only the bytes between the first '{' and the first '}' after it are
// hashed, so "{user1000}.following" and "{user1000}.followers" land on the same slot. An empty
// tag ("{}x") does not count: the whole key is hashed then.
//
// Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace larder {

// The number of hash slots of a Redis Cluster.
inline constexpr std::uint16_t redis_slot_count = 16384;

// CRC16/XMODEM of `bytes`.
std::uint16_t crc16_xmodem(std::string_view bytes);

// The hash slot of `key`, in [0, redis_slot_count).
std::uint16_t key_slot(std::string_view key);

}  // namespace larder
