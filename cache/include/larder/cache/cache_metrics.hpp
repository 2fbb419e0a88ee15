// cache_metrics: a snapshot of one cache's counters, from cache_manager::metrics() or
// co_await cache_manager::get_metrics(); rendered for Prometheus by metrics/prometheus_text.hpp.
//
// Counters count from the cache's construction (a reopened disk tier starts from zero). The
// snapshot is a plain value: copy it freely. Its tiers are read one after the other, so counters
// of different tiers may be a few operations apart under load; each tier's own are consistent.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include <larder/cache/disk_tier.hpp>
#include <larder/cache/memory_tier.hpp>
#include <larder/cache/remote/remote_tier_stats.hpp>

namespace larder {

struct cache_metrics {
  // The seed's three (Cache.md, "Integration with Monitoring"):
  // hits / lookups (0 before the first lookup);
  double hit_rate = 0;
  // bytes charged against the memory tier's budget;
  std::uint64_t memory_usage = 0;
  // entries the memory tier evicted, for every reason (memory_tier_stats: evictions,
  // cleanup_evictions, expirations, aged_out). Removals by the caller are not evictions.
  std::uint64_t eviction_count = 0;

  // Lookups: get, get_as, get_or_load and try_get calls (each looks in memory once). Hits: those
  // answered from memory, the disk tier or the remote tier, a caller that shared another caller's
  // read included; a get_or_load answered by its loader is a miss.
  std::uint64_t lookups = 0;
  std::uint64_t hits = 0;

  memory_tier_stats memory;
  std::optional<disk_tier_stats> disk;      // when the cache has a disk tier
  std::optional<remote_tier_stats> remote;  // when the cache has a remote tier

  // Single flight: reads below memory (disk, then remote) shared by concurrent misses of one key
  // instead of each reading; loader calls made by get_or_load, and the callers that shared another
  // caller's load.
  std::uint64_t coalesced_disk_reads = 0;
  std::uint64_t loads = 0;
  std::uint64_t coalesced_loads = 0;

  // Dataset streams reading through this cache (dataset_cache): batches delivered, and the time
  // their consumers waited for data (the training loop's data stall).
  std::uint64_t stream_batches = 0;
  std::chrono::nanoseconds stream_stall{0};
};

}  // namespace larder
