// remote_tier_stats: the remote tier's counters, in cache_metrics::remote.
#pragma once

#include <cstdint>

#include <larder/cache/metrics/latency_histogram.hpp>
#include <larder/cache/remote/redis_client.hpp>

namespace larder {

struct remote_tier_stats {
  // Lookups that reached the tier (local misses), and what became of them. misses counts every
  // lookup that returned nothing: absent, refused by the breaker, failed, corrupt, expired.
  std::uint64_t lookups = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  // Lookups and publishes that failed (timeouts included), and the timeouts among them.
  std::uint64_t errors = 0;
  std::uint64_t timeouts = 0;
  // Requests the open circuit breaker answered without asking, and times it opened.
  std::uint64_t refused = 0;
  std::uint64_t breaker_opened = 0;
  bool breaker_open = false;
  // Whether the tier has a client (false while it keeps trying to reach a node).
  bool connected = false;
  // Values under our keys that failed verification (not an entry, checksum, decompression,
  // missing chunks), and verified values of another key (a hash collision).
  std::uint64_t corrupt_values = 0;
  std::uint64_t other_key_values = 0;
  std::uint64_t read_bytes = 0;
  // Values published (chunked ones included), the chunked ones, bytes sent; values not published:
  // too large (over max_value_size, or over chunk_size with large_values: skip), or dropped
  // (too many publishes in flight, not connected, or the breaker open).
  std::uint64_t publishes = 0;
  std::uint64_t chunked_publishes = 0;
  std::uint64_t published_bytes = 0;
  std::uint64_t skipped_large = 0;
  std::uint64_t dropped = 0;
  latency_summary get_latency;
  redis_client_stats client;
};

}  // namespace larder
