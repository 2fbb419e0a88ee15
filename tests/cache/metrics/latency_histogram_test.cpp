// latency_histogram: bucket edges, quantiles on known distributions, exact counts under
// concurrent recording.
#include "larder/cache/metrics/latency_histogram.hpp"

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace larder {
namespace {

using namespace std::chrono_literals;

TEST(LatencyHistogram, SmallValuesHaveABucketEach) {
  for (std::uint64_t ns = 0; ns < 32; ++ns) {
    EXPECT_EQ(latency_histogram::bucket_of(ns), ns);
    EXPECT_EQ(latency_histogram::upper_edge(ns), ns);
  }
}

TEST(LatencyHistogram, BucketsTileTheRangeWithinASixteenth) {
  std::size_t previous_edge_bucket = 0;
  for (std::size_t b = 1; b < latency_histogram::bucket_count; ++b) {
    const std::uint64_t edge = latency_histogram::upper_edge(b);
    ASSERT_EQ(latency_histogram::bucket_of(edge), b) << "bucket " << b;
    ASSERT_EQ(latency_histogram::bucket_of(latency_histogram::upper_edge(b - 1) + 1), b)
        << "bucket " << b;
    previous_edge_bucket = b;
  }
  EXPECT_EQ(previous_edge_bucket, latency_histogram::bucket_count - 1);
  EXPECT_EQ(latency_histogram::upper_edge(latency_histogram::bucket_count - 1), UINT64_MAX);
  for (std::uint64_t ns : {17ull, 1000ull, 123456ull, 9999999ull, 1ull << 40, (1ull << 40) + 1}) {
    const std::uint64_t edge = latency_histogram::upper_edge(latency_histogram::bucket_of(ns));
    EXPECT_GE(edge, ns);
    EXPECT_LE(edge - ns, ns / 16) << ns;
  }
}

TEST(LatencyHistogram, AnEmptyHistogramSummarisesToZeros) {
  latency_histogram h;
  const latency_summary s = h.summary();
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.sum, 0ns);
  EXPECT_EQ(s.p50, 0ns);
  EXPECT_EQ(s.p999, 0ns);
}

TEST(LatencyHistogram, QuantilesOfAUniformDistribution) {
  latency_histogram h;
  // 1, 2, ..., 1000 microseconds.
  for (int us = 1; us <= 1000; ++us)
    h.record(std::chrono::microseconds(us));
  const latency_summary s = h.summary();
  EXPECT_EQ(s.count, 1000u);
  EXPECT_EQ(s.sum, std::chrono::microseconds(500500));
  auto within = [](std::chrono::nanoseconds got, std::chrono::nanoseconds exact) {
    return got >= exact && got <= exact + exact / 16;
  };
  EXPECT_TRUE(within(s.p50, 500us)) << s.p50.count();
  EXPECT_TRUE(within(s.p99, 990us)) << s.p99.count();
  EXPECT_TRUE(within(s.p999, 999us)) << s.p999.count();
}

TEST(LatencyHistogram, ATailOfSlowOperationsShowsInTheHighQuantilesOnly) {
  latency_histogram h;
  for (int i = 0; i < 990; ++i)
    h.record(100us);
  for (int i = 0; i < 10; ++i)
    h.record(50ms);
  const latency_summary s = h.summary();
  EXPECT_LE(s.p50, 100us + 100us / 16);
  EXPECT_LE(s.p99, 100us + 100us / 16);  // the 990th of 1000 is still fast
  EXPECT_GE(s.p999, 50ms);
  EXPECT_LE(s.p999, 50ms + 50ms / 16);
}

TEST(LatencyHistogram, NegativeDurationsCountAsZero) {
  latency_histogram h;
  h.record(-5ns);
  EXPECT_EQ(h.summary().count, 1u);
  EXPECT_EQ(h.summary().p50, 0ns);
}

TEST(LatencyHistogramConcurrency, RecordsFromSeveralThreadsAreAllCounted) {
  latency_histogram h;
  constexpr int per_thread = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < per_thread; ++i)
        h.record(std::chrono::nanoseconds(1000 * (t + 1)));
    });
  }
  // Summaries taken while records land never exceed what was recorded.
  for (int i = 0; i < 100; ++i)
    EXPECT_LE(h.summary().count, 3u * per_thread);
  for (auto& t : threads)
    t.join();
  const latency_summary s = h.summary();
  EXPECT_EQ(s.count, 3u * per_thread);
  EXPECT_EQ(s.sum, std::chrono::nanoseconds(std::int64_t{per_thread} * (1000 + 2000 + 3000)));
  EXPECT_GE(s.p50, 2000ns);
  EXPECT_LE(s.p50, 2000ns + 2000ns / 16);
}

}  // namespace
}  // namespace larder
