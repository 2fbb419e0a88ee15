// SIEVE, step by step against the algorithm of Zhang et al. (NSDI'24): a FIFO queue, a visited
// bit per entry, and a hand that walks from the tail towards the head and stays where it stops.
#include "larder/cache/policy/sieve_policy.hpp"

#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace larder {
namespace {

using testing::policy_driver;
using keys = std::vector<std::string>;

TEST(SievePolicy, HandSkipsVisitedEntriesAndStaysWhereItStopped) {
  policy_driver cache(std::make_unique<sieve_policy>(), 4);
  cache.access_all({"A", "B", "C", "D"});      // queue, head to tail: D C B A
  EXPECT_EQ(cache.access_all({"A", "C"}), 2);  // A and C visited

  // E: the hand starts at the tail; A is visited (cleared, passed), B is not: B goes, and the
  // hand rests on C. Queue: E D C A.
  cache.access("E");
  EXPECT_EQ(cache.evicted(), (keys{"B"}));
  // F: C is visited (cleared), D is not: D goes, hand on E. Queue: F E C A.
  cache.access("F");
  EXPECT_EQ(cache.evicted(), (keys{"B", "D"}));
  // G: E unvisited goes at once: new entries leave quickly ("quick demotion").
  cache.access("G");
  EXPECT_EQ(cache.evicted(), (keys{"B", "D", "E"}));
  // A is hit again; H, I: the hand takes F, then G. A and C, hit before, stay.
  EXPECT_TRUE(cache.access("A"));
  cache.access("H");
  cache.access("I");
  EXPECT_EQ(cache.evicted(), (keys{"B", "D", "E", "F", "G"}));
  EXPECT_TRUE(cache.contains("A"));
  EXPECT_TRUE(cache.contains("C"));
}

TEST(SievePolicy, HandWrapsFromTheHeadToTheTail) {
  policy_driver cache(std::make_unique<sieve_policy>(), 3);
  cache.access_all({"A", "B", "C"});
  EXPECT_EQ(cache.access_all({"A", "B", "C"}), 3);  // every entry visited
  // D: the hand clears A, B and C, wraps to the tail and takes A; it rests on B.
  cache.access("D");
  EXPECT_EQ(cache.evicted(), (keys{"A"}));
  // E: B's bit was cleared on the first lap: B goes.
  cache.access("E");
  EXPECT_EQ(cache.evicted(), (keys{"A", "B"}));
}

TEST(SievePolicy, WithoutHitsItIsFifo) {
  policy_driver cache(std::make_unique<sieve_policy>(), 3);
  cache.access_all({"A", "B", "C", "D", "E"});
  EXPECT_EQ(cache.evicted(), (keys{"A", "B"}));
}

TEST(SievePolicy, ErasingTheEntryUnderTheHandMovesTheHandOn) {
  policy_driver cache(std::make_unique<sieve_policy>(), 4);
  cache.access_all({"A", "B", "C", "D"});
  cache.access("A");
  cache.access("E");  // A cleared, B evicted; the hand rests on C
  cache.erase("C");   // the hand moves on to D
  cache.access("F");  // room after the erase: no eviction
  cache.access("G");  // D unvisited: D goes
  EXPECT_EQ(cache.evicted(), (keys{"B", "D"}));
}

TEST(SievePolicy, HitsAreCountedInTheEntryUpToOne) {
  sieve_policy p;
  EXPECT_EQ(p.hits(), hit_delivery::in_entry);
  EXPECT_EQ(p.hit_counter_limit(), 1);
  EXPECT_EQ(p.victim(), nullptr);
}

TEST(SievePolicy, VariableWeightsEvictUntilTheNewEntryFits) {
  policy_driver cache(std::make_unique<sieve_policy>(), 10);
  cache.access("A", 4);
  cache.access("B", 3);
  cache.access("C", 3);
  cache.access("D", 6);  // needs 6: A (4) and B (3) go
  EXPECT_EQ(cache.evicted(), (keys{"A", "B"}));
  EXPECT_EQ(cache.used(), 9u);
}

}  // namespace
}  // namespace larder
