#include "larder/cache/policy/fifo_policy.hpp"

#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace larder {
namespace {

using testing::policy_driver;
using keys = std::vector<std::string>;

TEST(FifoPolicy, EvictsInInsertionOrderWhateverTheHits) {
  policy_driver p(std::make_unique<fifo_policy>());
  p.insert("a");
  p.insert("b");
  p.insert("c");
  p.hit("a");
  p.hit("a");
  p.insert("d");
  EXPECT_EQ(p.drain(), (keys{"a", "b", "c", "d"}));
}

TEST(FifoPolicy, ErasedEntryLeavesTheQueue) {
  policy_driver p(std::make_unique<fifo_policy>());
  p.insert("a");
  p.insert("b");
  p.insert("c");
  p.erase("b");
  EXPECT_EQ(p.drain(), (keys{"a", "c"}));
}

TEST(FifoPolicy, FactoryMakesThePolicyTheConfigurationNames) {
  EXPECT_EQ(make_eviction_policy(memory_policy::fifo)->name(), "fifo");
  EXPECT_EQ(make_eviction_policy(memory_policy::lru)->name(), "lru");
}

}  // namespace
}  // namespace larder
