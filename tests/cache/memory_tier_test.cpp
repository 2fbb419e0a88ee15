#include "larder/cache/memory_tier.hpp"

#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace larder {
namespace {

using namespace std::chrono_literals;

blob value_of(std::size_t size, char fill = 'v') {
  return blob::copy_of(std::string(size, fill));
}

// Capacity for exactly `n` entries of a one-byte key and `value_size`-byte value.
std::uint64_t room_for(std::size_t n, std::size_t value_size) {
  return n * memory_tier::charge_for(1, value_size);
}

memory_tier_options one_shard(std::uint64_t capacity, memory_policy policy = memory_policy::lru) {
  memory_tier_options o;
  o.capacity_bytes = capacity;
  o.policy = policy;
  o.shards = 1;
  return o;
}

std::string present(const memory_tier& tier, const std::string& keys) {
  std::string out;
  for (char k : keys) {
    if (tier.contains(std::string(1, k))) out += k;
  }
  return out;
}

TEST(MemoryTier, RoundTripsValuesAndCountsHitsAndMisses) {
  memory_tier tier(one_shard(1 << 20));
  EXPECT_TRUE(tier.put("k", blob::copy_of(std::string_view("value"))));
  auto hit = tier.get("k");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->view(), "value");
  EXPECT_FALSE(tier.get("absent"));
  auto s = tier.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.insertions, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_DOUBLE_EQ(s.hit_rate(), 0.5);
}

TEST(MemoryTier, ChargesKeyValueAndOverhead) {
  memory_tier tier(one_shard(1 << 20));
  tier.put("abc", value_of(100));
  tier.put("de", value_of(10));
  EXPECT_EQ(tier.bytes_used(), 3 + 100 + 2 + 10 + 2 * memory_tier::entry_overhead_bytes);
  EXPECT_GE(memory_tier::entry_overhead_bytes, sizeof(memory_entry));
  tier.erase("abc");
  EXPECT_EQ(tier.bytes_used(), 2 + 10 + memory_tier::entry_overhead_bytes);
}

// Worked example: room for three entries. a b c in, a read, d in: LRU evicts b, FIFO evicts a.
TEST(MemoryTier, LruEvictsTheLeastRecentlyUsed) {
  memory_tier tier(one_shard(room_for(3, 100)));
  for (const char* k : {"a", "b", "c"})
    tier.put(k, value_of(100));
  ASSERT_TRUE(tier.get("a"));
  tier.put("d", value_of(100));
  EXPECT_EQ(present(tier, "abcd"), "acd");
  tier.put("e", value_of(100));
  EXPECT_EQ(present(tier, "abcde"), "ade");
  EXPECT_EQ(tier.stats().evictions, 2u);
}

// Hits are recorded by readers and applied by the next writer; each reader thread keeps its
// newest 32 hits per shard between writes (reader_slot.hpp). Within that bound LRU is exact...
TEST(MemoryTier, LruIsExactForUpTo32HitsBetweenWrites) {
  memory_tier tier(one_shard(room_for(40, 10)));
  // Two-byte keys with nine-byte values: the charge of a one-byte key with a ten-byte value.
  for (int i = 0; i < 40; ++i)
    tier.put(std::to_string(i % 10) + char('a' + i / 10), value_of(9));
  // Keys 0a..9a, 0b..9b, 0c..9c, 0d..9d in insertion order; hit the first 32 of them.
  for (int i = 0; i < 32; ++i)
    ASSERT_TRUE(tier.get(std::to_string(i % 10) + char('a' + i / 10)));
  tier.put("new", value_of(8));
  EXPECT_FALSE(tier.contains("2d"));  // the oldest entry not hit
  EXPECT_TRUE(tier.contains("0a"));
}

// ...beyond it, the oldest unapplied hits are dropped: here the hits on 0a, 1a and 2a.
TEST(MemoryTier, LruKeepsTheNewest32HitsBetweenWrites) {
  memory_tier tier(one_shard(room_for(40, 10)));
  // Two-byte keys with nine-byte values: the charge of a one-byte key with a ten-byte value.
  for (int i = 0; i < 40; ++i)
    tier.put(std::to_string(i % 10) + char('a' + i / 10), value_of(9));
  for (int i = 0; i < 35; ++i)
    ASSERT_TRUE(tier.get(std::to_string(i % 10) + char('a' + i / 10)));
  tier.put("new", value_of(8));
  EXPECT_FALSE(tier.contains("0a"));
  EXPECT_TRUE(tier.contains("5d"));
  EXPECT_EQ(tier.stats().hits, 35u);  // the hit counts themselves are never dropped
}

TEST(MemoryTier, PeekAndContainsAreNotAccesses) {
  memory_tier tier(one_shard(room_for(3, 100)));
  for (const char* k : {"a", "b", "c"})
    tier.put(k, value_of(100));
  ASSERT_TRUE(tier.peek("a"));
  ASSERT_TRUE(tier.contains("a"));
  tier.put("d", value_of(100));
  EXPECT_EQ(present(tier, "abcd"), "bcd");  // a stayed least recent
  auto s = tier.stats();
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.misses, 0u);
}

TEST(MemoryTier, FifoEvictsTheOldestInsertion) {
  memory_tier tier(one_shard(room_for(3, 100), memory_policy::fifo));
  for (const char* k : {"a", "b", "c"})
    tier.put(k, value_of(100));
  ASSERT_TRUE(tier.get("a"));
  tier.put("d", value_of(100));
  EXPECT_EQ(present(tier, "abcd"), "bcd");
  tier.put("e", value_of(100));
  EXPECT_EQ(present(tier, "abcde"), "cde");
}

TEST(MemoryTier, ALargeEntryEvictsAsManyAsItNeeds) {
  memory_tier tier(one_shard(room_for(4, 100)));
  for (const char* k : {"a", "b", "c", "d"})
    tier.put(k, value_of(100));
  // Needs the room of two and a bit entries: evicts a, b and c.
  tier.put("e", value_of(2 * memory_tier::charge_for(1, 100) + 50));
  EXPECT_EQ(present(tier, "abcde"), "de");
  EXPECT_LE(tier.bytes_used(), tier.capacity_bytes());
}

TEST(MemoryTier, EvictionThresholdKeepsUsageUnderItsMark) {
  auto o = one_shard(room_for(10, 100));
  o.eviction_threshold = 0.5;
  memory_tier tier(o);
  for (char k = 'a'; k <= 'j'; ++k)
    tier.put(std::string(1, k), value_of(100));
  EXPECT_EQ(tier.stats().entries, 5u);
  EXPECT_EQ(present(tier, "abcdefghij"), "fghij");
  EXPECT_LE(tier.bytes_used(), tier.high_water_bytes());
}

TEST(MemoryTier, MaxItemsBoundsTheEntryCount) {
  auto o = one_shard(1 << 20);
  o.max_items = 2;
  memory_tier tier(o);
  for (const char* k : {"a", "b", "c"})
    tier.put(k, value_of(1));
  EXPECT_EQ(present(tier, "abc"), "bc");
}

TEST(MemoryTier, AnEntryLargerThanTheHighWaterMarkIsRejectedAndEvictsNothing) {
  memory_tier tier(one_shard(room_for(2, 100)));
  tier.put("a", value_of(100));
  EXPECT_FALSE(tier.put("b", value_of(room_for(2, 100))));
  EXPECT_EQ(present(tier, "ab"), "a");
  EXPECT_EQ(tier.stats().rejections, 1u);
}

TEST(MemoryTier, PutReplacesTheValueAndItsCharge) {
  memory_tier tier(one_shard(1 << 20));
  tier.put("k", value_of(10, 'x'));
  tier.put("k", value_of(30, 'y'));
  EXPECT_EQ(tier.get("k")->view(), std::string(30, 'y'));
  EXPECT_EQ(tier.bytes_used(), memory_tier::charge_for(1, 30));
  auto s = tier.stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.replacements, 1u);
}

TEST(MemoryTier, KeepExistingStoresOnlyWhenAbsent) {
  memory_tier tier(one_shard(1 << 20));
  EXPECT_TRUE(tier.put("k", value_of(3, 'a'), {.keep_existing = true}));
  EXPECT_FALSE(tier.put("k", value_of(3, 'b'), {.keep_existing = true}));
  EXPECT_EQ(tier.get("k")->view(), "aaa");
  EXPECT_EQ(tier.bytes_used(), memory_tier::charge_for(1, 3));
}

TEST(MemoryTier, AHeldValueOutlivesItsEviction) {
  memory_tier tier(one_shard(room_for(1, 100)));
  tier.put("a", value_of(100, 'a'));
  blob held = *tier.get("a");
  tier.put("b", value_of(100, 'b'));
  EXPECT_FALSE(tier.contains("a"));
  EXPECT_EQ(held.view(), std::string(100, 'a'));
}

class MemoryTierExpiry : public ::testing::Test {
 protected:
  MemoryTierExpiry() {
    auto o = one_shard(1 << 20);
    o.clock = [this] { return now_; };
    tier_ = std::make_unique<memory_tier>(o);
  }
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1000)};
  std::unique_ptr<memory_tier> tier_;
};

TEST_F(MemoryTierExpiry, AnEntryExpiresWhenItsTtlHasPassed) {
  tier_->put("short", value_of(1), {.ttl = 10s});
  tier_->put("forever", value_of(1));
  now_ += 9s;
  EXPECT_TRUE(tier_->contains("short"));
  EXPECT_TRUE(tier_->get("short"));
  now_ += 1s;
  EXPECT_FALSE(tier_->contains("short"));
  EXPECT_FALSE(tier_->get("short"));
  EXPECT_TRUE(tier_->get("forever"));
  auto s = tier_->stats();
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(tier_->bytes_used(), memory_tier::charge_for(7, 1));
}

TEST_F(MemoryTierExpiry, AnUnrepresentablyLongTtlNeverExpires) {
  tier_->put("k", value_of(1), {.ttl = std::chrono::nanoseconds::max()});
  now_ += std::chrono::hours(24 * 365 * 100);
  EXPECT_TRUE(tier_->get("k"));
}

TEST_F(MemoryTierExpiry, PurgeDropsOnlyExpiredEntries) {
  tier_->put("a", value_of(1), {.ttl = 5s});
  tier_->put("b", value_of(1), {.ttl = 50s});
  tier_->put("c", value_of(1));
  now_ += 10s;
  EXPECT_EQ(tier_->purge_expired(), 1u);
  EXPECT_EQ(present(*tier_, "abc"), "bc");
}

TEST(MemoryTier, EraseAndClearEmptyTheTier) {
  memory_tier tier(one_shard(1 << 20));
  for (const char* k : {"a", "b", "c"})
    tier.put(k, value_of(10));
  EXPECT_TRUE(tier.erase("b"));
  EXPECT_FALSE(tier.erase("b"));
  EXPECT_EQ(present(tier, "abc"), "ac");
  tier.clear();
  EXPECT_EQ(present(tier, "abc"), "");
  EXPECT_EQ(tier.bytes_used(), 0u);
  EXPECT_EQ(tier.stats().entries, 0u);
  tier.put("a", value_of(10));  // usable after clear
  EXPECT_TRUE(tier.get("a"));
}

TEST(MemoryTier, InvalidOptionsAreRefused) {
  EXPECT_THROW(memory_tier(one_shard(0)), std::invalid_argument);
  auto o = one_shard(100);
  o.eviction_threshold = 1.5;
  EXPECT_THROW(memory_tier{o}, std::invalid_argument);
}

TEST(MemoryTier, ShardCountFollowsCapacityOrRequest) {
  auto shards_for = [](std::uint64_t capacity, std::size_t requested) {
    memory_tier_options o;
    o.capacity_bytes = capacity;
    o.shards = requested;
    return memory_tier(o).shard_count();
  };
  EXPECT_EQ(shards_for(1 << 20, 0), 1u);
  EXPECT_EQ(shards_for(64ull << 20, 0), 8u);
  EXPECT_EQ(shards_for(100ull << 30, 0), 64u);
  EXPECT_EQ(shards_for(1 << 20, 5), 8u);
}

TEST(MemoryTier, ShardedTierKeepsAGlobalBudgetAndFitsEntriesLargerThanAShard) {
  memory_tier_options o;
  o.capacity_bytes = 1 << 20;
  o.shards = 16;
  memory_tier tier(o);
  for (int i = 0; i < 1000; ++i)
    tier.put("k" + std::to_string(i), value_of(4000));
  EXPECT_LE(tier.bytes_used(), tier.capacity_bytes());
  // Bigger than capacity / shards: fits, evicting from whichever shards hold bytes.
  EXPECT_TRUE(tier.put("big", value_of(600 << 10)));
  EXPECT_TRUE(tier.contains("big"));
  EXPECT_LE(tier.bytes_used(), tier.capacity_bytes());
}

// Random operations with random sizes against a model of what was last stored per key: the
// budget holds after every put, and any value present is the one last put under its key.
TEST(MemoryTier, PropertyBudgetNeverExceededAndValuesNeverMixed) {
  for (memory_policy policy : all_memory_policies) {
    SCOPED_TRACE(to_string(policy));
    memory_tier_options o;
    o.capacity_bytes = 64 << 10;
    o.eviction_threshold = 0.8;
    o.max_items = 40;
    o.policy = policy;
    o.shards = 4;
    memory_tier tier(o);
    std::mt19937 rng(12345);
    std::map<std::string, std::string> last_put;
    for (int step = 0; step < 20000; ++step) {
      const std::string key = "key" + std::to_string(rng() % 100);
      switch (rng() % 4) {
        case 0:
        case 1: {
          std::string value = key + ":" + std::to_string(step);
          value.resize(value.size() + rng() % 3000, '.');
          if (tier.put(key, blob::copy_of(value))) last_put[key] = value;
          ASSERT_LE(tier.bytes_used(), tier.high_water_bytes()) << "step " << step;
          ASSERT_LE(tier.stats().entries, o.max_items) << "step " << step;
          break;
        }
        case 2:
          if (auto v = tier.get(key)) {
            ASSERT_EQ(v->view(), last_put[key]) << "step " << step;
          }
          break;
        case 3:
          tier.erase(key);
          break;
      }
    }
    std::uint64_t expected_bytes = 0;
    std::uint64_t expected_entries = 0;
    for (const auto& [key, value] : last_put) {
      if (tier.contains(key)) {
        expected_bytes += memory_tier::charge_for(key.size(), value.size());
        ++expected_entries;
      }
    }
    EXPECT_EQ(tier.bytes_used(), expected_bytes);
    EXPECT_EQ(tier.stats().entries, expected_entries);
  }
}

TEST(MemoryTier, ValueBytesWeightChargesTheValueOnly) {
  memory_tier_options o = one_shard(300);
  o.weight = entry_weight::value_bytes;
  memory_tier tier(o);
  tier.put("a", value_of(100));
  tier.put("bb", value_of(100));
  tier.put("ccc", value_of(100));
  EXPECT_EQ(tier.bytes_used(), 300u);
  tier.put("d", value_of(1));  // a goes
  EXPECT_EQ(present(tier, "abcd"), "d");
  EXPECT_TRUE(tier.contains("bb"));
  EXPECT_FALSE(tier.contains("a"));
}

TEST(MemoryTier, OneWeightMakesCapacityAnEntryCount) {
  memory_tier_options o = one_shard(3);
  o.weight = entry_weight::one;
  memory_tier tier(o);
  for (char k : std::string("abcd"))
    tier.put(std::string(1, k), value_of(10000));
  EXPECT_EQ(tier.bytes_used(), 3u);
  EXPECT_EQ(present(tier, "abcd"), "bcd");
}

TEST(MemoryTier, TheNewEntryIsNeverTheVictimOfItsOwnInsertion) {
  // S3-FIFO with room for 10 unit entries, S's share being 1: every put of a new key is a
  // one-hit wonder that S would filter first. The tier evicts before inserting, so each new key
  // is present after its put, and the oldest unhit keys are the ones that went.
  memory_tier_options o = one_shard(10, memory_policy::s3fifo);
  o.weight = entry_weight::one;
  memory_tier tier(o);
  for (int i = 0; i < 25; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(tier.put(key, value_of(1)));
    ASSERT_TRUE(tier.contains(key)) << key;
  }
  EXPECT_EQ(tier.stats().entries, 10u);
}

// The lock-free read path delivers hits to every policy: through the entry's counter (s3fifo,
// sieve) or the per-thread buffers (lru, wtinylfu). A hot set read through get() survives a scan
// of one-time keys that flushes LRU.
class MemoryTierScan : public ::testing::TestWithParam<std::pair<memory_policy, int>> {};

TEST_P(MemoryTierScan, HotSetSurvivesAScanAsThePolicyPromises) {
  const auto [policy, expected_hot_hits] = GetParam();
  memory_tier_options o = one_shard(20, policy);
  o.weight = entry_weight::one;
  memory_tier tier(o);
  auto request = [&](const std::string& key) {
    if (tier.get(key)) return true;
    tier.put(key, value_of(8));
    return false;
  };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i)
      request("hot" + std::to_string(i));
  }
  for (int i = 0; i < 100; ++i)
    request("scan" + std::to_string(i));
  int hot_hits = 0;
  for (int i = 0; i < 5; ++i)
    hot_hits += request("hot" + std::to_string(i)) ? 1 : 0;
  EXPECT_EQ(hot_hits, expected_hot_hits);
}

INSTANTIATE_TEST_SUITE_P(Policies, MemoryTierScan,
                         ::testing::Values(std::pair{memory_policy::lru, 0},
                                           std::pair{memory_policy::fifo, 0},
                                           std::pair{memory_policy::s3fifo, 5},
                                           std::pair{memory_policy::wtinylfu, 5}),
                         [](const auto& info) { return std::string(to_string(info.param.first)); });

}  // namespace
}  // namespace larder
