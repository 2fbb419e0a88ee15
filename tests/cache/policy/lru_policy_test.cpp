#include "larder/cache/policy/lru_policy.hpp"

#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace larder {
namespace {

using testing::policy_driver;
using keys = std::vector<std::string>;

TEST(LruPolicy, EvictsInOrderOfLastUse) {
  policy_driver p(std::make_unique<lru_policy>());
  p.insert("a");
  p.insert("b");
  p.insert("c");
  p.hit("a");  // a is now the most recent
  p.insert("d");
  p.hit("b");
  EXPECT_EQ(p.drain(), (keys{"c", "a", "d", "b"}));
}

TEST(LruPolicy, ErasedEntryLeavesTheQueue) {
  policy_driver p(std::make_unique<lru_policy>());
  p.insert("a");
  p.insert("b");
  p.insert("c");
  p.erase("a");
  EXPECT_EQ(p.drain(), (keys{"b", "c"}));
}

TEST(LruPolicy, RepeatedHitsOnTheFrontChangeNothing) {
  policy_driver p(std::make_unique<lru_policy>());
  p.insert("a");
  p.insert("b");
  p.hit("b");
  p.hit("b");
  EXPECT_EQ(p.drain(), (keys{"a", "b"}));
}

TEST(LruPolicy, EmptyPolicyHasNoVictim) {
  lru_policy p;
  EXPECT_EQ(p.victim(), nullptr);
}

}  // namespace
}  // namespace larder
