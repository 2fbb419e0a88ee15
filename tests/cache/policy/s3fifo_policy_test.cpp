// S3-FIFO, step by step against the algorithm of Yang et al. (SOSP'23) and the authors'
// libCacheSim implementation: small queue S (10 %), main queue M (90 %), ghost queue G, a 2-bit
// hit counter, promotion from S after 2 hits, 2-bit CLOCK in M.
#include "larder/cache/policy/s3fifo_policy.hpp"

#include <gtest/gtest.h>

#include "larder/cache/policy/lru_policy.hpp"
#include "policy_test_support.hpp"

namespace larder {
namespace {

using testing::policy_driver;
using keys = std::vector<std::string>;

s3fifo_policy& s3fifo(policy_driver& d) {
  return dynamic_cast<s3fifo_policy&>(d.policy());
}

TEST(S3FifoPolicy, SmallQueueFiltersOneHitWondersIntoTheGhost) {
  // Capacity 10: S's share is 1, M's 9, G remembers up to 9.
  policy_driver cache(std::make_unique<s3fifo_policy>(), 10);
  cache.access_all({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"});  // all in S
  EXPECT_EQ(s3fifo(cache).small_weight(), 10u);
  EXPECT_EQ(cache.access_all({"a", "a", "b"}), 3);  // a: 2 hits, b: 1

  // k: evict from S. Its tail a has 2 hits: it moves to M. The next tail, b, has 1: b is the
  // victim and its key goes to G.
  cache.access("k");
  EXPECT_EQ(cache.evicted(), (keys{"b"}));
  EXPECT_EQ(s3fifo(cache).main_weight(), 1u);
  EXPECT_TRUE(s3fifo(cache).ghosts().contains(std::hash<std::string>{}("b")));

  // l: c, never hit, goes.
  cache.access("l");
  EXPECT_EQ(cache.evicted(), (keys{"b", "c"}));

  // b again: a miss, but G remembers it, so it comes back into M, and leaves G; d goes from S.
  EXPECT_FALSE(cache.access("b"));
  EXPECT_EQ(cache.evicted(), (keys{"b", "c", "d"}));
  EXPECT_EQ(s3fifo(cache).main_weight(), 2u);
  EXPECT_FALSE(s3fifo(cache).ghosts().contains(std::hash<std::string>{}("b")));
}

TEST(S3FifoPolicy, MainQueueIsATwoBitClock) {
  // Entries of weight 2 are heavier than S's share (1 of 10): they go straight to M.
  policy_driver cache(std::make_unique<s3fifo_policy>(), 10);
  for (const char* k : {"A", "B", "C", "D", "E"})
    cache.access(k, 2);
  EXPECT_EQ(s3fifo(cache).main_weight(), 10u);
  EXPECT_TRUE(cache.access("A", 2));
  EXPECT_TRUE(cache.access("A", 2));
  EXPECT_TRUE(cache.access("A", 2));
  EXPECT_TRUE(cache.access("A", 2));  // A's counter stays at 3
  EXPECT_TRUE(cache.access("B", 2));  // B: 1

  // F: M's tail A (3) goes back to the head at 2, B (1) at 0; C (0) is the victim.
  cache.access("F", 2);
  EXPECT_EQ(cache.evicted(), (keys{"C"}));
  cache.access("G", 2);  // D (0)
  cache.access("H", 2);  // E (0)
  EXPECT_EQ(cache.evicted(), (keys{"C", "D", "E"}));
  // I: A (2) back to the head at 1; B (0) goes.
  cache.access("I", 2);
  EXPECT_EQ(cache.evicted(), (keys{"C", "D", "E", "B"}));
  // J: F (0) goes; A, hit four times, is still there.
  cache.access("J", 2);
  EXPECT_EQ(cache.evicted(), (keys{"C", "D", "E", "B", "F"}));
  EXPECT_TRUE(cache.contains("A"));
}

TEST(S3FifoPolicy, KeepsAHotSetThroughAScanThatFlushesLru) {
  EXPECT_EQ(testing::hot_hits_after_a_scan(std::make_unique<s3fifo_policy>()), 5);
  EXPECT_EQ(testing::hot_hits_after_a_scan(std::make_unique<lru_policy>()), 0);
}

TEST(S3FifoPolicy, RemovalsDoNotFeedTheGhost) {
  policy_driver cache(std::make_unique<s3fifo_policy>(), 10);
  cache.access("a");
  cache.erase("a");
  EXPECT_EQ(s3fifo(cache).ghosts().size(), 0u);
  EXPECT_EQ(s3fifo(cache).small_weight(), 0u);
}

TEST(S3FifoPolicy, HitsAreCountedInTheEntryUpToThree) {
  s3fifo_policy p;
  EXPECT_EQ(p.hits(), hit_delivery::in_entry);
  EXPECT_EQ(p.hit_counter_limit(), 3);
  EXPECT_EQ(p.victim(), nullptr);
}

}  // namespace
}  // namespace larder
