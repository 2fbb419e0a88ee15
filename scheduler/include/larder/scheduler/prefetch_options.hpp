// prefetch_options and prefetch_stats: how far a prefetcher (prefetcher.hpp) reads ahead of its
// consumer, and what it reports about doing so.
//
// Plain values, owned by whoever holds them. Thread safety: as for any value type.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace larder {

struct prefetch_options {
  // Values per batch; the last batch of the sequence holds the remainder. At least 1.
  std::size_t batch_size = 1;
  // Batches fetched or being fetched and not yet handed over, counting the one the consumer asks
  // for next: while it works on batch k, batches k+1 .. k+batches_ahead are read. At least 1.
  std::size_t batches_ahead = 2;
  // Budget for the bytes of values fetched and not yet handed over, plus an estimate for each fetch
  // still running. No fetch starts that would overspend it, except those of the batch the consumer
  // asks for next, so that a batch larger than the budget still arrives. Unlimited by default; a
  // limit needs the prefetcher's size function. At least 1.
  std::uint64_t max_bytes_in_flight = std::numeric_limits<std::uint64_t>::max();
  // The estimate charged for a running fetch until its value's size is known. 0: the mean size of
  // the values fetched so far, and while none has arrived, only the consumer's next batch is read.
  std::uint64_t item_bytes_hint = 0;
};

struct prefetch_stats {
  std::uint64_t fetches_started = 0;
  std::size_t fetches_running = 0;
  // The most fetches running at one time: the queue depth offered to the storage underneath.
  std::size_t max_fetches_running = 0;
  // Charged against max_bytes_in_flight now, and the most at one time.
  std::uint64_t bytes_in_flight = 0;
  std::uint64_t max_bytes_in_flight = 0;
  std::uint64_t batches_delivered = 0;
  // next() calls that had to suspend because their batch was not ready, and their total time
  // suspended: the consumer's stall.
  std::uint64_t consumer_waits = 0;
  std::chrono::nanoseconds consumer_wait_time{0};
};

}  // namespace larder
