// trace_replayer: replays a cache trace through a memory_tier, as a cache simulator does, and
// counts its misses: the figures (object and byte miss ratios) by which eviction policies are
// compared in the literature (the S3-FIFO and SIEVE papers, libCacheSim).
//
// 1. A request is a get of its key; a miss is followed by a put of a value of the request's size
//    (unbacked_values: no memory behind it, so working sets of any size replay). A value larger
//    than the whole cache is not stored and misses every time.
// 2. What an entry weighs: its value bytes, as cache simulators count (count_overhead: the memory
//    tier's full footprint, key and bookkeeping included); with ignore_size, 1, so that the
//    capacity is an entry count.
// 3. One shard by default: the policy's order exactly. More shards change the eviction order
//    (each shard evicts in its own order, drained in turn), which is what `shards` shows.
// 4. Requests of size 0 are skipped and counted apart, as libCacheSim skips them: real traces
//    hold a few, and an entry that weighs nothing would never be evicted.
//
// Thread safety: a trace_replayer is used by one thread at a time. replay_trace() runs several on
// threads of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <larder/cache/memory_tier.hpp>
#include <larder/cache/replay/trace_source.hpp>
#include <larder/cache/replay/unbacked_values.hpp>
#include <larder/config/cache_config.hpp>

namespace larder {

struct replay_settings {
  memory_policy policy = memory_policy::lru;
  // REQUIRES: capacity > 0. Bytes of value (with count_overhead: of footprint), or entries with
  // ignore_size.
  std::uint64_t capacity = 0;
  bool ignore_size = false;
  // REQUIRES: not together with ignore_size.
  bool count_overhead = false;
  // REQUIRES: shards > 0 (the memory tier rounds it up to a power of two).
  std::size_t shards = 1;
};

struct replay_counts {
  std::uint64_t requests = 0;
  std::uint64_t misses = 0;
  // With ignore_size, every request is 1 byte.
  std::uint64_t bytes_requested = 0;
  std::uint64_t bytes_missed = 0;
  // Not in the counts above (4. above).
  std::uint64_t zero_size_requests = 0;

  double object_miss_ratio() const noexcept {
    return requests == 0 ? 0.0 : static_cast<double>(misses) / static_cast<double>(requests);
  }
  double byte_miss_ratio() const noexcept {
    return bytes_requested == 0
               ? 0.0
               : static_cast<double>(bytes_missed) / static_cast<double>(bytes_requested);
  }
  bool operator==(const replay_counts&) const = default;
};

class trace_replayer {
 public:
  explicit trace_replayer(const replay_settings& settings);

  void replay(const trace_request& request);

  const replay_counts& counts() const noexcept { return counts_; }
  const replay_settings& settings() const noexcept { return settings_; }

 private:
  replay_settings settings_;
  unbacked_values values_;
  memory_tier tier_;
  replay_counts counts_;
};

using trace_opener = std::function<std::unique_ptr<trace_source>()>;

// Replays the trace that `open` opens once for each of `settings`, on up to `threads` threads
// (each opens the trace for itself and replays its share of the settings in one pass over it),
// and returns the counts in the order of `settings`. `progress`, if set, is called from one of the
// threads every 64Ki requests and once at the end. Throws what opening or reading the trace
// throws (trace_error), once every thread has stopped.
std::vector<replay_counts> replay_trace(const trace_opener& open,
                                        std::span<const replay_settings> settings, unsigned threads,
                                        const trace_progress& progress = {});

}  // namespace larder
