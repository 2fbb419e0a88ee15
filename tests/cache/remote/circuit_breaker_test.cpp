// The remote tier's circuit breaker on worked sequences, with time given explicitly.
#include "remote/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace larder::remote {
namespace {

using namespace std::chrono_literals;
using state = circuit_breaker::state;
using transition = circuit_breaker::transition;

const circuit_breaker::clock::time_point t0{};

TEST(CircuitBreaker, OpensAfterTheThresholdOfConsecutiveFailures) {
  circuit_breaker b({.failure_threshold = 3, .open_for = 100ms});
  EXPECT_TRUE(b.allow(t0));
  EXPECT_EQ(b.record_failure(t0), transition::none);
  EXPECT_EQ(b.record_failure(t0), transition::none);
  // A success in between starts the count again.
  EXPECT_EQ(b.record_success(), transition::none);
  EXPECT_EQ(b.record_failure(t0), transition::none);
  EXPECT_EQ(b.record_failure(t0), transition::none);
  EXPECT_EQ(b.current(), state::closed);
  EXPECT_EQ(b.record_failure(t0), transition::opened);
  EXPECT_EQ(b.current(), state::open);
  EXPECT_EQ(b.opened(), 1u);
  EXPECT_FALSE(b.allow(t0 + 50ms));
  EXPECT_FALSE(b.allow(t0 + 99ms));
  EXPECT_EQ(b.refused(), 2u);
}

TEST(CircuitBreaker, AfterOpenForOneProbeGoesAndItsSuccessCloses) {
  circuit_breaker b({.failure_threshold = 1, .open_for = 100ms});
  ASSERT_EQ(b.record_failure(t0), transition::opened);
  EXPECT_TRUE(b.allow(t0 + 100ms));  // the probe
  EXPECT_EQ(b.current(), state::half_open);
  EXPECT_FALSE(b.allow(t0 + 101ms));  // everyone else waits for it
  EXPECT_FALSE(b.allow(t0 + 500ms));
  EXPECT_EQ(b.record_success(), transition::closed);
  EXPECT_EQ(b.current(), state::closed);
  EXPECT_TRUE(b.allow(t0 + 501ms));
  EXPECT_TRUE(b.allow(t0 + 501ms));
  EXPECT_EQ(b.refused(), 2u);
}

TEST(CircuitBreaker, AFailedProbeOpensItForAnotherPeriod) {
  circuit_breaker b({.failure_threshold = 1, .open_for = 100ms});
  ASSERT_EQ(b.record_failure(t0), transition::opened);
  ASSERT_TRUE(b.allow(t0 + 150ms));
  EXPECT_EQ(b.record_failure(t0 + 150ms), transition::opened);
  EXPECT_EQ(b.opened(), 2u);
  EXPECT_FALSE(b.allow(t0 + 249ms));
  EXPECT_TRUE(b.allow(t0 + 250ms));
}

TEST(CircuitBreaker, LateFailuresOfEarlierRequestsDoNotExtendTheOpenPeriod) {
  circuit_breaker b({.failure_threshold = 2, .open_for = 100ms});
  b.record_failure(t0);
  ASSERT_EQ(b.record_failure(t0), transition::opened);
  // Requests sent before it opened fail later: it stays open until t0 + 100ms, not longer.
  EXPECT_EQ(b.record_failure(t0 + 90ms), transition::none);
  EXPECT_EQ(b.opened(), 1u);
  EXPECT_TRUE(b.allow(t0 + 100ms));
}

TEST(CircuitBreaker, ALateSuccessClosesAnOpenBreaker) {
  circuit_breaker b({.failure_threshold = 1, .open_for = 100ms});
  ASSERT_EQ(b.record_failure(t0), transition::opened);
  EXPECT_EQ(b.record_success(), transition::closed);
  EXPECT_TRUE(b.allow(t0 + 1ms));
}

}  // namespace
}  // namespace larder::remote
