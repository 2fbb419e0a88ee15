#include "larder/cache/memory_cleanup.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "larder/cache/memory_tier.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t value_size = 100;

std::uint64_t charge() {
  return memory_tier::charge_for(3, value_size);  // keys are three characters
}

std::string key_of(int i) {
  std::string k = std::to_string(i);
  return std::string(3 - k.size(), '0') + k;
}

// A tier with a manual clock and one shard, so that eviction order is exactly the policy's.
class MemoryCleanupTest : public ::testing::Test {
 protected:
  void make(std::size_t entries, memory_policy policy, double threshold = 1.0) {
    memory_tier_options o;
    o.capacity_bytes = entries * charge();
    o.eviction_threshold = threshold;
    o.policy = policy;
    o.shards = 1;
    o.clock = [this] { return now_; };
    o.on_evict = [this](std::string_view key, const blob&, auto) { evicted_.emplace_back(key); };
    tier_ = std::make_unique<memory_tier>(o);
  }
  void put(int i, std::chrono::nanoseconds ttl = {}) {
    ASSERT_TRUE(tier_->put(key_of(i), blob::copy_of(std::string(value_size, 'v')), {.ttl = ttl}));
  }
  std::vector<std::string> keys_present(int up_to) const {
    std::vector<std::string> out;
    for (int i = 0; i < up_to; ++i)
      if (tier_->contains(key_of(i))) out.push_back(key_of(i));
    return out;
  }

  std::chrono::steady_clock::time_point now_{std::chrono::hours(1000)};
  std::unique_ptr<memory_tier> tier_;
  std::vector<std::string> evicted_;
};

TEST_F(MemoryCleanupTest, EveryPassDropsExpiredEntriesFirst) {
  make(10, memory_policy::lru);
  put(0, 5s);
  put(1, 50s);
  put(2);
  now_ += 10s;
  const auto r = clean_memory_tier(*tier_, {.policy = cleanup_policy::lru});
  EXPECT_EQ(r.expired, 1u);
  EXPECT_EQ(r.evicted, 0u);
  EXPECT_EQ(keys_present(3), (std::vector<std::string>{"001", "002"}));
  EXPECT_EQ(r.bytes_before - r.bytes_after, charge());
}

// lru: after the budget shrinks, the pass evicts least recently used first, and on_evict (the
// disk tier's admission) sees each one.
TEST_F(MemoryCleanupTest, LruEvictsLeastRecentlyUsedDownToALoweredBudget) {
  make(6, memory_policy::lru);
  for (int i = 0; i < 6; ++i)
    put(i);
  tier_->get(key_of(0));
  tier_->get(key_of(2));  // recency, oldest first: 1 3 4 5 0 2
  tier_->set_capacity(3 * charge());
  EXPECT_EQ(evicted_, (std::vector<std::string>{"001", "003", "004"}));
  EXPECT_EQ(keys_present(6), (std::vector<std::string>{"000", "002", "005"}));
  // A pass at the new budget has nothing left to do.
  EXPECT_EQ(clean_memory_tier(*tier_, {.policy = cleanup_policy::lru}).evicted, 0u);
}

TEST_F(MemoryCleanupTest, FifoEvictsInInsertionOrderRegardlessOfReads) {
  make(6, memory_policy::fifo);
  for (int i = 0; i < 6; ++i)
    put(i);
  tier_->get(key_of(0));
  EXPECT_EQ(tier_->evict_down_to(4 * charge()), 2u);
  EXPECT_EQ(evicted_, (std::vector<std::string>{"000", "001"}));
}

// time: the pass drops exactly the entries put more than max_age ago, checked against a model
// that records each put's time, over a scripted workload of puts, replacements and passes.
TEST_F(MemoryCleanupTest, TimeDropsExactlyTheEntriesOlderThanMaxAge) {
  make(1000, memory_policy::lru);
  std::map<std::string, std::chrono::steady_clock::time_point> model;  // key -> put time
  std::mt19937 rng(7);
  const auto max_age = 60s;
  for (int step = 0; step < 400; ++step) {
    const int k = static_cast<int>(rng() % 200);
    put(k);
    model[key_of(k)] = now_;
    now_ += std::chrono::seconds(rng() % 3);
    if (step % 50 == 49) {
      const auto r =
          clean_memory_tier(*tier_, {.policy = cleanup_policy::time, .max_age = max_age});
      std::size_t expected = 0;
      for (auto it = model.begin(); it != model.end();) {
        if (now_ - it->second > max_age) {
          it = model.erase(it);
          ++expected;
        } else {
          ++it;
        }
      }
      EXPECT_EQ(r.aged_out, expected) << "pass after step " << step;
      std::vector<std::string> want;
      for (const auto& [key, at] : model)
        want.push_back(key);
      EXPECT_EQ(keys_present(200), want) << "pass after step " << step;
    }
  }
}

// size: puts may fill the tier to its capacity; a pass that finds usage above the threshold
// evicts, in policy order, down to the low-water mark; below the threshold it does nothing.
TEST_F(MemoryCleanupTest, SizeEvictsToTheLowWaterMarkOnlyOncePastTheThreshold) {
  make(10, memory_policy::fifo);  // high-water 1.0: the pass, not the put, does the work
  const memory_cleanup_settings size{
      .policy = cleanup_policy::size, .eviction_threshold = 0.8, .low_water = 0.5};
  for (int i = 0; i < 8; ++i)
    put(i);
  EXPECT_EQ(clean_memory_tier(*tier_, size).evicted, 0u);  // 8 of 10: at the threshold, not past
  put(8);
  const auto r = clean_memory_tier(*tier_, size);
  EXPECT_EQ(r.evicted, 4u);
  EXPECT_EQ(r.bytes_after, 5 * charge());
  EXPECT_EQ(evicted_, (std::vector<std::string>{"000", "001", "002", "003"}));
}

TEST_F(MemoryCleanupTest, SetCapacityKeepsTheThresholdShare) {
  make(10, memory_policy::lru, 0.5);
  tier_->set_capacity(20 * charge());
  EXPECT_EQ(tier_->capacity_bytes(), 20 * charge());
  EXPECT_EQ(tier_->high_water_bytes(), 10 * charge());
  EXPECT_THROW(tier_->set_capacity(0), std::invalid_argument);
}

}  // namespace
}  // namespace larder
