// memory_entry: one key and its value in a memory_tier shard, with the hooks eviction policies
// keep their state in (intrusive list links and a few bytes), so a policy never allocates per
// entry and a hit touches only the entry itself.
//
// Owned by its shard; every field is guarded by the shard's lock.
#pragma once

#include <cstdint>
#include <string>

#include <larder/cache/blob.hpp>

namespace larder {

struct memory_entry {
  // Policy state: list links and a byte each for a queue id and a small counter.
  memory_entry* prev = nullptr;
  memory_entry* next = nullptr;
  std::uint8_t policy_queue = 0;
  std::uint8_t policy_counter = 0;

  std::uint64_t hash = 0;
  // Steady-clock nanoseconds since its epoch; 0 means the entry never expires.
  std::int64_t expires_at_ns = 0;
  // Bytes counted against the budget: value, key and per-entry overhead.
  std::uint64_t charge = 0;
  std::string key;
  blob value;
};

}  // namespace larder
