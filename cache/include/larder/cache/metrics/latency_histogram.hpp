// latency_histogram: a distribution of operation latencies (disk reads, writes, syncs) from which
// p50 / p99 / p999 are read without keeping the samples.
//
// 1. Buckets. Log-linear, as HdrHistogram lays them out: below 16 ns one bucket per nanosecond;
//    above, every power of two is split into 16 equal buckets. A latency of any size up to
//    2^64 ns lands in one of 976 buckets, and a quantile read from them is at most 1/16 (6.25 %)
//    above the true value (we report a bucket's upper edge: never an understatement).
// 2. Cost. record() is three relaxed atomic additions, made where an I/O completes (tens of
//    microseconds each): cheap beside the I/O, and not on the memory tier's hit path, which
//    counts in per-thread slots instead (memory_tier.hpp).
// 3. Window. Counts accumulate from construction: quantiles describe the cache's life, as a
//    Prometheus summary's _sum and _count do.
//
// Thread safety: record() and summary() may be called concurrently from any thread; a summary
// taken while records land may see some of them and not others.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace larder {

// Quantiles of a latency_histogram, each within 6.25 % above the true value (0 when empty).
struct latency_summary {
  std::uint64_t count = 0;
  std::chrono::nanoseconds sum{0};
  std::chrono::nanoseconds p50{0};
  std::chrono::nanoseconds p99{0};
  std::chrono::nanoseconds p999{0};
};

class latency_histogram {
 public:
  static constexpr unsigned sub_bucket_bits = 4;
  static constexpr std::size_t bucket_count = (64 - sub_bucket_bits + 1) << sub_bucket_bits;

  void record(std::chrono::nanoseconds latency) noexcept;
  latency_summary summary() const noexcept;

  // The bucket that holds `ns`, and the largest value that bucket holds (exposed for tests).
  static std::size_t bucket_of(std::uint64_t ns) noexcept;
  static std::uint64_t upper_edge(std::size_t bucket) noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

// Times one operation into a histogram: construct before, record() after.
class latency_timer {
 public:
  latency_timer() noexcept : start_(std::chrono::steady_clock::now()) {}
  void record(latency_histogram& into) const noexcept {
    into.record(std::chrono::steady_clock::now() - start_);
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace larder
