#include "larder/cache/metrics/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace larder {
namespace {

constexpr std::uint64_t sub_buckets = std::uint64_t{1} << latency_histogram::sub_bucket_bits;

}  // namespace

std::size_t latency_histogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < sub_buckets) return static_cast<std::size_t>(ns);
  const unsigned top = 63 - static_cast<unsigned>(std::countl_zero(ns));  // >= sub_bucket_bits
  const unsigned shift = top - sub_bucket_bits;
  // Octave `top` starts at bucket (top - sub_bucket_bits + 1) x 16; the bits under the top one
  // pick the sub-bucket.
  return static_cast<std::size_t>((top - sub_bucket_bits + 1) * sub_buckets +
                                  ((ns >> shift) & (sub_buckets - 1)));
}

std::uint64_t latency_histogram::upper_edge(std::size_t bucket) noexcept {
  if (bucket < sub_buckets) return bucket;
  const std::uint64_t octave = bucket / sub_buckets;  // >= 1
  const std::uint64_t sub = bucket % sub_buckets;
  const unsigned shift = static_cast<unsigned>(octave - 1);
  const std::uint64_t first = (sub_buckets + sub) << shift;
  const std::uint64_t width = std::uint64_t{1} << shift;
  // The last bucket ends at 2^64 - 1.
  return first > std::numeric_limits<std::uint64_t>::max() - (width - 1) ? first
                                                                         : first + (width - 1);
}

void latency_histogram::record(std::chrono::nanoseconds latency) noexcept {
  const std::uint64_t ns = latency.count() < 0 ? 0 : static_cast<std::uint64_t>(latency.count());
  buckets_[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

latency_summary latency_histogram::summary() const noexcept {
  latency_summary out;
  // Quantiles come from the buckets' own total, so that records landing during the copy cannot
  // push a rank past the last bucket.
  std::array<std::uint64_t, bucket_count> counts;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
    total += counts[i];
  }
  out.count = count_.load(std::memory_order_relaxed);
  out.sum =
      std::chrono::nanoseconds(static_cast<std::int64_t>(sum_ns_.load(std::memory_order_relaxed)));
  if (total == 0) return out;
  auto quantile = [&](double q) {
    // The smallest value with at least q x total samples at or below it (rank at least 1).
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
    if (static_cast<double>(rank) < q * static_cast<double>(total)) ++rank;
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts[i];
      if (seen >= rank) {
        const std::uint64_t edge = upper_edge(i);
        return std::chrono::nanoseconds(static_cast<std::int64_t>(
            std::min<std::uint64_t>(edge, std::numeric_limits<std::int64_t>::max())));
      }
    }
    return std::chrono::nanoseconds::max();
  };
  out.p50 = quantile(0.5);
  out.p99 = quantile(0.99);
  out.p999 = quantile(0.999);
  return out;
}

}  // namespace larder
