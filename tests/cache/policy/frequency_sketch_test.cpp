#include "larder/cache/policy/frequency_sketch.hpp"

#include <gtest/gtest.h>

namespace larder {
namespace {

TEST(FrequencySketch, TheDoorkeeperTakesTheFirstAccess) {
  frequency_sketch s;
  s.resize(1000);
  EXPECT_EQ(s.estimate(42), 0u);
  s.record(42);
  EXPECT_EQ(s.estimate(42), 1u);
  s.record(42);
  s.record(42);
  EXPECT_EQ(s.estimate(42), 3u);
}

TEST(FrequencySketch, CountsSaturateAtFifteenPlusTheDoorkeeper) {
  frequency_sketch s;
  s.resize(1000);
  for (int i = 0; i < 40; ++i)
    s.record(7);
  EXPECT_EQ(s.estimate(7), frequency_sketch::max_count + 1);
}

TEST(FrequencySketch, DistinctKeysAreToldApart) {
  frequency_sketch s;
  s.resize(4096);
  for (std::uint64_t k = 0; k < 1000; ++k)
    s.record(k * 0x9e3779b97f4a7c15ull);
  for (int i = 0; i < 9; ++i)
    s.record(123456789);
  EXPECT_EQ(s.estimate(123456789), 9u);
  // A count-min sketch only overestimates; with a sparse table, rarely.
  int over = 0;
  for (std::uint64_t k = 0; k < 1000; ++k)
    over += s.estimate(k * 0x9e3779b97f4a7c15ull) > 1;
  EXPECT_LT(over, 20);
}

TEST(FrequencySketch, AgingHalvesEveryCountAfterTheSample) {
  frequency_sketch s;
  s.resize(64);  // sample size 640
  ASSERT_EQ(s.sample_size(), 640u);
  for (int i = 0; i < 9; ++i)
    s.record(5);  // doorkeeper + 8
  EXPECT_EQ(s.estimate(5), 9u);
  for (std::uint64_t k = 1; s.estimate(5) == 9u && k < 1000; ++k)
    s.record(k << 20);
  // The reset halved the counter (8 -> 4) and cleared the doorkeeper.
  EXPECT_EQ(s.estimate(5), 4u);
}

}  // namespace
}  // namespace larder
