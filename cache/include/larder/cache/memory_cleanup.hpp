// memory_cleanup: one pass of a cleanup policy over a memory tier, as the cleanup service runs
// it on a schedule (cache_manager::start).
//
// Every pass first drops entries whose TTL has passed. Then, by policy:
// - lru, fifo: evict in the tier's own order (its memory.type) down to the tier's high-water
//   mark. Puts already keep to it, so this only acts after the budget was lowered
//   (memory_tier::set_capacity, when the host runs short of memory).
// - time: drop every entry put more than max_age ago.
// - size: once usage passes eviction_threshold x capacity, evict down to the low-water mark,
//   low_water x capacity. A cache with this policy lets puts fill the tier to its full capacity
//   (cache_manager builds it so), and the pass brings it back down in one go: fewer evictions on
//   the put path, at the price of running fuller between passes.
//
// A free function over a thread-safe tier: safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>

#include <larder/config/cache_config.hpp>

namespace larder {

class memory_tier;

struct memory_cleanup_settings {
  cleanup_policy policy = cleanup_policy::lru;
  std::chrono::nanoseconds max_age{0};  // time: entries older than this go; 0 = no age limit
  double eviction_threshold = 0.9;      // size: the share of capacity that starts a pass
  double low_water = 0.7;               // size: the share of capacity a pass evicts down to
};

struct memory_cleanup_report {
  std::uint64_t expired = 0;   // TTL passed
  std::uint64_t aged_out = 0;  // time policy: older than max_age
  std::uint64_t evicted = 0;   // lru / fifo / size: evicted in policy order
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;
};

memory_cleanup_report clean_memory_tier(memory_tier& tier, const memory_cleanup_settings& settings);

}  // namespace larder
