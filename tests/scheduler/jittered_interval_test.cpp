#include "larder/scheduler/jittered_interval.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

namespace larder {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

constexpr double just_below_one = 1.0 - std::numeric_limits<double>::epsilon() / 2;

TEST(JitteredDelay, WithoutJitterIsTheIntervalForEverySample) {
  for (double sample : {0.0, 0.25, 0.5, just_below_one})
    EXPECT_EQ(jittered_delay(1s, 0.0, sample), nanoseconds(1s)) << sample;
}

TEST(JitteredDelay, SampleZeroIsTheLowerBound) {
  EXPECT_EQ(jittered_delay(1s, 0.1, 0.0), nanoseconds(900ms));
  EXPECT_EQ(jittered_delay(1s, 0.5, 0.0), nanoseconds(500ms));
}

TEST(JitteredDelay, SampleOneHalfIsTheInterval) {
  EXPECT_EQ(jittered_delay(1s, 0.1, 0.5), nanoseconds(1s));
  EXPECT_EQ(jittered_delay(1s, 1.0, 0.5), nanoseconds(1s));
}

TEST(JitteredDelay, SamplesBelowOneApproachTheUpperBound) {
  EXPECT_EQ(jittered_delay(1s, 0.1, 0.75), nanoseconds(1050ms));
  EXPECT_EQ(jittered_delay(1s, 0.1, just_below_one), nanoseconds(1100ms));
}

TEST(JitteredDelay, StaysWithinTheBoundsAcrossTheSampleRange) {
  const nanoseconds interval = 10ms;
  for (double jitter : {0.01, 0.1, 0.5, 1.0}) {
    const auto lower = nanoseconds(std::llround(10'000'000 * (1 - jitter)));
    const auto upper = nanoseconds(std::llround(10'000'000 * (1 + jitter)));
    nanoseconds previous = nanoseconds::min();
    for (int i = 0; i < 1000; ++i) {
      const nanoseconds d = jittered_delay(interval, jitter, i / 1000.0);
      EXPECT_GE(d, lower) << "jitter " << jitter << " sample " << i / 1000.0;
      EXPECT_LE(d, upper) << "jitter " << jitter << " sample " << i / 1000.0;
      EXPECT_GE(d, previous) << "the delay grows with the sample";
      previous = d;
    }
  }
}

TEST(JitteredDelay, FullJitterCanReachZero) {
  EXPECT_EQ(jittered_delay(1s, 1.0, 0.0), nanoseconds::zero());
}

TEST(JitteredDelay, SaturatesInsteadOfOverflowing) {
  EXPECT_EQ(jittered_delay(nanoseconds::max(), 0.5, just_below_one), nanoseconds::max());
  EXPECT_EQ(jittered_delay(nanoseconds::max(), 0.0, just_below_one), nanoseconds::max());
}

TEST(JitteredInterval, RejectsANonPositiveInterval) {
  EXPECT_THROW(jittered_interval(0ns, 0.1, 1), std::invalid_argument);
  EXPECT_THROW(jittered_interval(-5ms, 0.1, 1), std::invalid_argument);
}

TEST(JitteredInterval, RejectsAJitterOutsideZeroToOne) {
  EXPECT_THROW(jittered_interval(1s, -0.1, 1), std::invalid_argument);
  EXPECT_THROW(jittered_interval(1s, 1.5, 1), std::invalid_argument);
  EXPECT_THROW(jittered_interval(1s, std::numeric_limits<double>::quiet_NaN(), 1),
               std::invalid_argument);
}

TEST(JitteredInterval, TheMessageNamesTheBadValue) {
  try {
    jittered_interval(1s, 1.5, 1);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("1.5"), std::string::npos) << e.what();
  }
}

TEST(JitteredInterval, DrawsEveryDelayWithinTheBoundsAndSpreadsOverBothSides) {
  jittered_interval delays(100ms, 0.1, 42);
  nanoseconds lowest = nanoseconds::max();
  nanoseconds highest = nanoseconds::zero();
  for (int i = 0; i < 10'000; ++i) {
    const nanoseconds d = delays.next();
    ASSERT_GE(d, nanoseconds(90ms));
    ASSERT_LE(d, nanoseconds(110ms));
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  // 10 000 uniform draws: the extremes land within 1 % of the range's ends with probability
  // 1 - 2 * 0.99^10000, indistinguishable from 1.
  EXPECT_LT(lowest, nanoseconds(90200us));
  EXPECT_GT(highest, nanoseconds(109800us));
}

TEST(JitteredInterval, TheSameSeedGivesTheSameDelays) {
  jittered_interval a(1s, 0.2, 7);
  jittered_interval b(1s, 0.2, 7);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(a.next(), b.next()) << "draw " << i;
}

TEST(JitteredInterval, DifferentSeedsGiveDifferentDelays) {
  jittered_interval a(1s, 0.2, 7);
  jittered_interval b(1s, 0.2, 8);
  std::vector<nanoseconds> from_a;
  std::vector<nanoseconds> from_b;
  for (int i = 0; i < 10; ++i) {
    from_a.push_back(a.next());
    from_b.push_back(b.next());
  }
  EXPECT_NE(from_a, from_b);
}

TEST(JitteredInterval, WithoutJitterEveryDelayIsTheInterval) {
  jittered_interval delays(250ms, 0.0, 3);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(delays.next(), nanoseconds(250ms));
}

}  // namespace
}  // namespace larder
