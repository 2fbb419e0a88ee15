// W-TinyLFU, step by step against Einziger et al. (ACM ToS 2017) as Caffeine runs it: a 1 %
// LRU window, a segmented main (probation, protected at 80 %), and a duel on sketch frequency
// between the window's overflow and probation's least recent entry.
#include "larder/cache/policy/wtinylfu_policy.hpp"

#include <gtest/gtest.h>

#include "larder/cache/policy/lru_policy.hpp"
#include "policy_test_support.hpp"

namespace larder {
namespace {

using testing::policy_driver;
using keys = std::vector<std::string>;

wtinylfu_policy& tinylfu(policy_driver& d) {
  return dynamic_cast<wtinylfu_policy&>(d.policy());
}

TEST(WTinyLfuPolicy, NewKeysMustOutscoreTheIncumbentToGetIn) {
  // Capacity 10: window 1, main 9 (protected up to 7).
  policy_driver cache(std::make_unique<wtinylfu_policy>(), 10);
  // a..j: each insertion pushes the window's previous entry to probation, admitted while there
  // is room. Window: j; probation, most recent first: i h g f e d c b a.
  cache.access_all({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"});
  EXPECT_EQ(tinylfu(cache).window_weight(), 1u);
  EXPECT_EQ(tinylfu(cache).probation_weight(), 9u);
  // a is hit twice: promoted to protected, frequency 3.
  EXPECT_EQ(cache.access_all({"a", "a"}), 2);
  EXPECT_EQ(tinylfu(cache).protected_weight(), 1u);

  // k: the candidate i (seen once) duels probation's tail b (seen once): a tie keeps the
  // incumbent, so i goes. k enters the window and j becomes the candidate.
  cache.access("k");
  EXPECT_EQ(cache.evicted(), (keys{"i"}));
  cache.access("l");  // j loses to b
  cache.access("m");  // k loses to b
  EXPECT_EQ(cache.evicted(), (keys{"i", "j", "k"}));

  // n is seen twice while in the window (frequency 2); when it is pushed out it beats b.
  cache.access("n");               // l loses to b; n in the window
  EXPECT_TRUE(cache.access("n"));  // a hit in the window
  cache.access("o");               // m loses to b; n becomes the candidate
  cache.access("p");               // n (2) beats b (1): b goes
  EXPECT_EQ(cache.evicted(), (keys{"i", "j", "k", "l", "m", "b"}));
  EXPECT_TRUE(cache.contains("n"));
  EXPECT_TRUE(cache.contains("a"));
}

TEST(WTinyLfuPolicy, ProtectedOverflowStepsDownToProbation) {
  policy_driver cache(std::make_unique<wtinylfu_policy>(), 10);
  cache.access_all({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"});
  // Hits on eight probation entries promote them; protected holds at most 7, so the least
  // recently promoted steps back down.
  cache.access_all({"a", "b", "c", "d", "e", "f", "g", "h"});
  EXPECT_EQ(tinylfu(cache).protected_weight(), 7u);
  EXPECT_EQ(tinylfu(cache).probation_weight(), 2u);  // i and the demoted a
  cache.access("k");  // candidate i ties with probation's tail: i goes
  cache.access("l");  // candidate j (1) duels the demoted a (2): j goes
  EXPECT_EQ(cache.evicted(), (keys{"i", "j"}));
  EXPECT_TRUE(cache.contains("a"));
}

TEST(WTinyLfuPolicy, KeepsAFrequentSetThroughAScanThatFlushesLru) {
  EXPECT_EQ(testing::hot_hits_after_a_scan(std::make_unique<wtinylfu_policy>()), 5);
  EXPECT_EQ(testing::hot_hits_after_a_scan(std::make_unique<lru_policy>()), 0);
}

TEST(WTinyLfuPolicy, HitsAreDeferredToTheWriter) {
  wtinylfu_policy p;
  EXPECT_EQ(p.hits(), hit_delivery::deferred);
  EXPECT_EQ(p.victim(), nullptr);
}

}  // namespace
}  // namespace larder
