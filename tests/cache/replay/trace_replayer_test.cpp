#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <larder/cache/replay/synthetic_trace.hpp>
#include <larder/cache/replay/trace_error.hpp>
#include <larder/cache/replay/trace_reader.hpp>
#include <larder/cache/replay/trace_replayer.hpp>

#include "scratch_directory.hpp"

namespace larder {

// Counts in failure messages, field by field.
void PrintTo(const replay_counts& c, std::ostream* out) {
  *out << "{requests " << c.requests << ", misses " << c.misses << ", bytes_requested "
       << c.bytes_requested << ", bytes_missed " << c.bytes_missed << ", zero_size_requests "
       << c.zero_size_requests << "}";
}

namespace {

// Replays `requests` (key, size) through one replayer and returns its counts.
replay_counts replay(const replay_settings& settings,
                     const std::vector<std::pair<std::string, std::uint64_t>>& requests) {
  trace_replayer replayer(settings);
  for (const auto& [key, size] : requests)
    replayer.replay({.key = key, .size = size});
  return replayer.counts();
}

// Every object the same size, sizes ignored: the textbook examples.
std::vector<std::pair<std::string, std::uint64_t>> sequence(const std::string& keys) {
  std::vector<std::pair<std::string, std::uint64_t>> requests;
  for (char k : keys)
    requests.emplace_back(std::string(1, k), 1000);
  return requests;
}

// Room for two objects. A B A C B: A and B miss, A hits, C misses and evicts B (least recently
// used; FIFO evicts A, first in), B misses again under LRU and hits under FIFO.
TEST(TraceReplayer, LruWorkedExampleCountsEveryMiss) {
  const auto counts =
      replay({.policy = memory_policy::lru, .capacity = 2, .ignore_size = true}, sequence("ABACB"));
  EXPECT_EQ(counts,
            (replay_counts{.requests = 5, .misses = 4, .bytes_requested = 5, .bytes_missed = 4}));
  EXPECT_DOUBLE_EQ(counts.object_miss_ratio(), 0.8);
  EXPECT_DOUBLE_EQ(counts.byte_miss_ratio(), 0.8);
}

TEST(TraceReplayer, FifoWorkedExampleKeepsTheLaterArrival) {
  const auto counts = replay({.policy = memory_policy::fifo, .capacity = 2, .ignore_size = true},
                             sequence("ABACB"));
  EXPECT_EQ(counts.misses, 3u);
}

// 300 bytes of values. A(100) B(200) miss and fill it; A hits; C(100) misses and evicts B (LRU)
// to fit; B(200) misses and evicts A: C and B fill it again. 4 of 5 requests missed, 600 of 700
// bytes.
TEST(TraceReplayer, ByteMissRatioWeighsMissesBySize) {
  const auto counts = replay({.policy = memory_policy::lru, .capacity = 300},
                             {{"A", 100}, {"B", 200}, {"A", 100}, {"C", 100}, {"B", 200}});
  EXPECT_EQ(counts, (replay_counts{
                        .requests = 5, .misses = 4, .bytes_requested = 700, .bytes_missed = 600}));
  EXPECT_DOUBLE_EQ(counts.byte_miss_ratio(), 600.0 / 700.0);
}

// Value bytes only by default: three 100-byte values fit in the footprint of two entries, which
// is all that fits once the overhead counts.
TEST(TraceReplayer, CountOverheadWeighsEntriesAsTheMemoryTierDoes) {
  const std::uint64_t two_entries = 2 * memory_tier::charge_for(1, 100);
  ASSERT_GE(two_entries, 300u);
  const auto requests = std::vector<std::pair<std::string, std::uint64_t>>{
      {"A", 100}, {"B", 100}, {"C", 100}, {"A", 100}};
  EXPECT_EQ(replay({.capacity = two_entries}, requests).misses, 3u);
  EXPECT_EQ(replay({.capacity = two_entries, .count_overhead = true}, requests).misses, 4u);
}

TEST(TraceReplayer, ObjectLargerThanTheCacheAlwaysMisses) {
  const auto counts = replay({.capacity = 100}, {{"big", 101}, {"big", 101}, {"a", 10}, {"a", 10}});
  EXPECT_EQ(counts.misses, 3u);
  EXPECT_EQ(counts.bytes_missed, 212u);
}

TEST(TraceReplayer, ZeroSizeRequestsAreSkippedAndCounted) {
  const auto counts = replay({.capacity = 100}, {{"a", 0}, {"a", 10}, {"b", 0}, {"a", 10}});
  EXPECT_EQ(counts, (replay_counts{.requests = 2,
                                   .misses = 1,
                                   .bytes_requested = 20,
                                   .bytes_missed = 10,
                                   .zero_size_requests = 2}));
}

// Values have no memory behind them: 64 objects of 1 GiB in a 16 GiB cache replay in no memory.
TEST(TraceReplayer, ValuesCostNoMemory) {
  std::vector<std::pair<std::string, std::uint64_t>> requests;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 64; ++i)
      requests.emplace_back("object" + std::to_string(i), 1ull << 30);
  }
  const auto counts = replay({.capacity = 16ull << 30}, requests);
  EXPECT_EQ(counts.requests, 128u);
  EXPECT_EQ(counts.misses, 128u) << "LRU under a loop larger than the cache misses every time";
}

std::vector<replay_settings> every_policy_at(std::initializer_list<std::uint64_t> capacities,
                                             std::size_t shards = 1) {
  std::vector<replay_settings> settings;
  for (const memory_policy p : all_memory_policies) {
    for (const std::uint64_t c : capacities) {
      settings.push_back({.policy = p, .capacity = c, .ignore_size = true, .shards = shards});
    }
  }
  return settings;
}

trace_opener zipf(std::uint64_t requests) {
  return [requests] {
    return std::make_unique<synthetic_trace>(
        synthetic_trace_options{.objects = 2000, .requests = requests, .alpha = 0.9, .seed = 7});
  };
}

// Two threads replay their shares of the settings in one pass each; the counts come back in the
// order of the settings, the same as one replayer at a time would count.
TEST(ReplayTrace, ThreadsGiveTheSameCountsInTheOrderOfTheSettings) {
  const auto settings = every_policy_at({50, 200, 800});
  std::uint64_t last_position = 0;
  std::uint64_t reported_length = 0;
  const auto counts =
      replay_trace(zipf(100'000), settings, 2, [&](std::uint64_t position, std::uint64_t length) {
        EXPECT_GE(position, last_position);
        last_position = position;
        reported_length = length;
      });
  ASSERT_EQ(counts.size(), settings.size());
  EXPECT_EQ(last_position, 100'000u);
  EXPECT_EQ(reported_length, 100'000u);
  for (std::size_t i = 0; i < settings.size(); ++i) {
    trace_replayer alone(settings[i]);
    const auto source = zipf(100'000)();
    while (const auto r = source->next())
      alone.replay(*r);
    EXPECT_EQ(counts[i], alone.counts())
        << to_string(settings[i].policy) << " " << settings[i].capacity;
    EXPECT_EQ(counts[i].requests, 100'000u);
  }
  // A larger cache misses less.
  EXPECT_GT(counts[0].misses, counts[1].misses);
  EXPECT_GT(counts[1].misses, counts[2].misses);
}

TEST(ReplayTrace, ShardedTiersReplayToo) {
  const auto settings = every_policy_at({400}, 4);
  const auto counts = replay_trace(zipf(20'000), settings, 1);
  for (const replay_counts& c : counts) {
    EXPECT_EQ(c.requests, 20'000u);
    EXPECT_GT(c.misses, 0u);
    EXPECT_LT(c.misses, c.requests);
  }
}

TEST(ReplayTrace, ATraceErrorReachesTheCaller) {
  testing::scratch_directory scratch;
  std::string csv;
  for (int i = 0; i < 100'000; ++i)
    csv += std::to_string(i) + ",k" + std::to_string(i % 10) + ",1\n";
  const auto file = scratch.write("t.csv", csv + "100000,k,oops\n");
  const auto open = [&] { return open_trace(file, trace_format::csv); };
  try {
    replay_trace(open, every_policy_at({5}), 2);
    ADD_FAILURE() << "the bad line went unnoticed";
  } catch (const trace_error& e) {
    EXPECT_NE(std::string(e.what()).find("t.csv:100001: the size \"oops\""), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace larder
