// Reinsertion (disk_tier.hpp, design note 2): an entry read while its region was live is copied
// forward when the budget reclaims the region, within a bound, once per read, durably, and
// without letting a crash bring back an older value.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "disk/entry_format.hpp"
#include "disk_tier_fixture.hpp"
#include "larder/io/fault_injecting_file_io.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

namespace fs = std::filesystem;
using faults = io::fault_injecting_file_io;

// Keys 100 to 999 have the same length, so their entries are all this size: about 3 KiB, 21 to a
// 64 KiB region.
const std::uint64_t entry_size = disk::encoded_size(key_for(100).size(), 3000);

// A budget of four regions: the fourth region to open starts the reclaim of the first.
class DiskReinsertionTest : public DiskTierTest {
 protected:
  disk_tier_options small_options() { return options(4 * region); }

  // Waits until no write and no reinsertion is in flight, so that the next put finds every
  // sealed region written and the reinsertion it may start runs alone.
  void settle(disk_tier& tier) {
    ASSERT_TRUE(testing::eventually([&] {
      const auto s = tier.stats();
      return s.writes_in_flight == 0 && s.regions_reinserting == 0;
    }));
  }

  // Puts keys next, next + 1, ... one at a time, settling after each, until `done` holds.
  // Returns the next key not put.
  int put_until(disk_tier& tier, int next, const std::function<bool()>& done) {
    while (!done()) {
      EXPECT_TRUE(put(tier, key_for(next), value_for(next))) << next;
      ++next;
      settle(tier);
      if (next > 999) {
        ADD_FAILURE() << "ran out of keys";
        break;
      }
    }
    return next;
  }

  fs::path region_file(std::uint64_t seq) {
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.region", static_cast<unsigned long long>(seq));
    return scratch_.path() / "cache" / "regions" / name;
  }

  // Puts keys 100 to 109 (all in region 1), reads keys [first_read, end_read), and fills regions
  // 2 and 3: the next put opens region 4, which starts the reclaim of region 1. Returns the next
  // key not put.
  int read_then_fill_to_the_budget(disk_tier& tier, int first_read, int end_read) {
    const int next = put_until(tier, 100, [&] { return tier.stats().insertions == 10; });
    expect_all(tier, first_read, end_read);
    return put_until(tier, next, [&] { return tier.stats().regions == 3; });
  }

  // Reads keys 100 to 107 and fills regions until region 1 is gone. Returns the next key not put.
  int read_eight_then_reclaim_their_region(disk_tier& tier) {
    const int next = read_then_fill_to_the_budget(tier, 100, 108);
    return put_until(tier, next, [&] { return !fs::exists(region_file(1)); });
  }

  // Puts from key `next` until region 4 opens (or the tier degrades).
  void open_region_four(disk_tier& tier, int next) {
    put_until(tier, next, [&] { return tier.stats().regions == 4 || tier.stats().degraded; });
  }

  static bool reads_a_whole_region(const faults::op_info& op) {
    return op.kind == faults::op_kind::read && op.length == region;
  }

  // How many of 100 to 107 a quarter region takes back: 5 of 3 KiB entries in 16 KiB.
  const int kept = static_cast<int>(region / 4 / entry_size);
};

TEST_F(DiskReinsertionTest, AnEntryReadWhileLiveSurvivesItsRegionsReclaimAndItsNeighbourDoesNot) {
  auto tier = open(small_options());
  const int next = read_then_fill_to_the_budget(*tier, 103, 104);
  put_until(*tier, next, [&] { return !fs::exists(region_file(1)); });
  const auto s = tier->stats();
  EXPECT_EQ(s.reinsertions, 1u);
  EXPECT_EQ(s.bytes_reinserted, entry_size);
  EXPECT_LE(s.bytes_used, 4 * region);
  EXPECT_EQ(get(*tier, key_for(103)), value_for(103));  // read from its copy
  EXPECT_FALSE(get(*tier, key_for(104)));               // unread: went with region 1
  EXPECT_FALSE(get(*tier, key_for(102)));
}

// Eight entries of region 1 were read; a quarter region holds five of them. The first five in
// the region's order are copied, the other three go with it.
TEST_F(DiskReinsertionTest, AReclaimReinsertsAtMostTheBoundInTheRegionsOrder) {
  ASSERT_EQ(kept, 5);
  auto tier = open(small_options());
  read_eight_then_reclaim_their_region(*tier);
  const auto s = tier->stats();
  EXPECT_EQ(s.reinsertions, static_cast<std::uint64_t>(kept));
  EXPECT_EQ(s.bytes_reinserted, kept * entry_size);
  expect_all(*tier, 100, 100 + kept);
  for (int i = 100 + kept; i < 110; ++i)
    EXPECT_FALSE(get(*tier, key_for(i))) << i;
}

// A copy is unmarked: when the region holding the copies (region 4, open when region 1 went) is
// reclaimed in turn, only the copy read again goes forward once more.
TEST_F(DiskReinsertionTest, AnEntryIsReinsertedAgainOnlyIfReadAgain) {
  auto tier = open(small_options());
  int next = read_eight_then_reclaim_their_region(*tier);
  ASSERT_EQ(tier->stats().reinsertions, static_cast<std::uint64_t>(kept));
  EXPECT_EQ(get(*tier, key_for(100)), value_for(100));
  put_until(*tier, next, [&] { return !fs::exists(region_file(4)); });
  EXPECT_EQ(tier->stats().reinsertions, static_cast<std::uint64_t>(kept) + 1);
  EXPECT_EQ(get(*tier, key_for(100)), value_for(100));
  for (int i = 101; i < 100 + kept; ++i)
    EXPECT_FALSE(get(*tier, key_for(i))) << i;
}

TEST_F(DiskReinsertionTest, TurnedOffARegionGoesWithEveryEntryUnread) {
  auto o = small_options();
  o.reinsertion = false;
  auto tier = open(o);
  read_eight_then_reclaim_their_region(*tier);
  const auto s = tier->stats();
  EXPECT_EQ(s.reinsertions, 0u);
  EXPECT_EQ(s.bytes_reinserted, 0u);
  for (int i = 100; i < 110; ++i)
    EXPECT_FALSE(get(*tier, key_for(i))) << i;
}

TEST_F(DiskReinsertionTest, ReinsertedEntriesSurviveACloseAndReopen) {
  {
    auto tier = open(small_options());
    read_eight_then_reclaim_their_region(*tier);
    EXPECT_FALSE(rt_.run(tier->close()));
  }
  auto tier = open(small_options());
  EXPECT_FALSE(tier->stats().recovered_by_scan);
  expect_all(*tier, 100, 100 + kept);
  for (int i = 100 + kept; i < 110; ++i)
    EXPECT_FALSE(get(*tier, key_for(i))) << i;
}

// Reinsertion flushes the copies before the region goes: a crash right after finds them.
TEST_F(DiskReinsertionTest, ReinsertedEntriesSurviveACrash) {
  {
    auto tier = open(small_options());
    read_eight_then_reclaim_their_region(*tier);
  }  // destroyed without close; settled, so nothing is in flight
  auto tier = open(small_options());
  EXPECT_TRUE(tier->stats().recovered_by_scan);
  expect_all(*tier, 100, 100 + kept);
  for (int i = 100 + kept; i < 110; ++i)
    EXPECT_FALSE(get(*tier, key_for(i))) << i;
  EXPECT_EQ(tier->stats().checksum_failures, 0u);
}

// LRU reclaims region 2, which holds the newest value of "k" while region 1 still holds an older
// one. "k" was read, so it is reinserted; after a crash the scan must never serve the old value.
class DiskReinsertionLruTest : public DiskReinsertionTest {
 protected:
  disk_tier_options lru_options() {
    auto o = small_options();
    o.eviction = region_eviction::lru;
    return o;
  }

  // Puts "k" = "old value" into region 1 and "k" = "new value" into region 2, then reads them so
  // that region 2 is the least recently read when region 4 opens. Returns the next key not put.
  int shadow_k(disk_tier& tier) {
    EXPECT_TRUE(put(tier, "k", "old value"));
    int next = put_until(tier, 100, [&] { return tier.stats().regions == 2; });
    EXPECT_TRUE(put(tier, "k", "new value"));
    next = put_until(tier, next, [&] { return tier.stats().regions == 3; });
    EXPECT_EQ(get(tier, "k"), "new value");                        // region 2
    EXPECT_EQ(get(tier, key_for(100)), value_for(100));            // region 1
    EXPECT_EQ(get(tier, key_for(next - 1)), value_for(next - 1));  // region 3
    return next;
  }
};

TEST_F(DiskReinsertionLruTest, ACrashAfterReinsertionServesTheNewValueNotTheOlderOne) {
  {
    auto tier = open(lru_options());
    int next = shadow_k(*tier);
    const int unread_in_region_two = next - 2;  // the last put before region 3 opened
    put_until(*tier, next, [&] { return !fs::exists(region_file(2)); });
    EXPECT_TRUE(fs::exists(region_file(1)));
    EXPECT_EQ(tier->stats().reinsertions, 1u);
    EXPECT_EQ(get(*tier, "k"), "new value");
    EXPECT_FALSE(get(*tier, key_for(unread_in_region_two)));
  }  // destroyed without close; settled, so nothing is in flight
  auto tier = open(lru_options());
  EXPECT_TRUE(tier->stats().recovered_by_scan);
  EXPECT_EQ(get(*tier, "k"), "new value");
  EXPECT_EQ(get(*tier, key_for(100)), value_for(100));
}

// A device that acknowledges writes and flushes but keeps nothing loses the copy of "k". The
// eviction log lists "k" for region 2, so the scan skips the older value in region 1: a miss,
// not stale bytes.
TEST_F(DiskReinsertionLruTest, ACrashThatLosesTheCopyFindsAMissNeverTheOlderValue) {
  faults faulty(file_io_);
  {
    auto tier = open(lru_options(), &faulty);
    int next = shadow_k(*tier);
    faulty.inject_when([](const faults::op_info& op) { return op.kind == faults::op_kind::write; },
                       faults::fault::torn_write(0, {}));
    put_until(*tier, next, [&] { return !fs::exists(region_file(2)); });
    EXPECT_EQ(tier->stats().reinsertions, 1u);
  }
  faulty.clear();
  auto tier = open(lru_options());
  EXPECT_TRUE(tier->stats().recovered_by_scan);
  EXPECT_FALSE(get(*tier, "k"));
  EXPECT_EQ(get(*tier, key_for(100)), value_for(100));  // region 1 itself is intact
}

// The copies must be durable before the region goes: when the flush fails, the region stays.
TEST_F(DiskReinsertionTest, AFailedFlushKeepsTheRegion) {
  faults faulty(file_io_);
  {
    auto tier = open(small_options(), &faulty);
    const int next = read_then_fill_to_the_budget(*tier, 100, 108);
    faulty.inject_when([](const faults::op_info& op) { return op.kind == faults::op_kind::fsync; },
                       faults::fault::fail(std::errc::io_error));
    open_region_four(*tier, next);
    EXPECT_TRUE(tier->stats().degraded);
    EXPECT_TRUE(fs::exists(region_file(1)));
  }
  faulty.clear();
  auto tier = open(small_options());
  expect_all(*tier, 100, 110);
}

// A region that cannot be read is not reinserted: the tier degrades, as on any read error, and
// the region is left as it was.
TEST_F(DiskReinsertionTest, AFailedReadOfTheRegionDegradesAndMovesNothing) {
  faults faulty(file_io_);
  auto tier = open(small_options(), &faulty);
  const int next = read_then_fill_to_the_budget(*tier, 100, 108);
  faulty.inject_when(reads_a_whole_region, faults::fault::fail(std::errc::io_error));
  open_region_four(*tier, next);
  const auto s = tier->stats();
  EXPECT_TRUE(s.degraded);
  EXPECT_EQ(s.reinsertions, 0u);
  EXPECT_TRUE(fs::exists(region_file(1)));
}

// Puts do not wait for a reinsertion: while region 1 is read (slowly), puts fill two more regions
// and make_room drops regions 2 and 3 instead; region 1's read entry still goes forward.
TEST_F(DiskReinsertionTest, PutsDoNotWaitForAReinsertion) {
  faults faulty(file_io_);
  auto tier = open(small_options(), &faulty);
  int next = read_then_fill_to_the_budget(*tier, 103, 104);
  faulty.inject_when(reads_a_whole_region, faults::fault::slow(3s));
  while (tier->stats().regions < 4) {
    ASSERT_TRUE(put(*tier, key_for(next), value_for(next)));
    ++next;
  }
  ASSERT_EQ(tier->stats().regions_reinserting, 1u);
  const int first_past_reinsertion = next;
  for (int n = 0; n < 45; ++n, ++next)  // more than two regions' worth
    ASSERT_TRUE(put(*tier, key_for(next), value_for(next)));
  EXPECT_EQ(tier->stats().regions_reinserting, 1u) << "the puts waited";
  EXPECT_TRUE(fs::exists(region_file(1)));
  EXPECT_FALSE(fs::exists(region_file(2)));
  EXPECT_LE(tier->stats().bytes_used, 4 * region);
  settle(*tier);
  EXPECT_FALSE(fs::exists(region_file(1)));
  EXPECT_EQ(tier->stats().reinsertions, 1u);
  EXPECT_EQ(get(*tier, key_for(103)), value_for(103));
  expect_all(*tier, first_past_reinsertion + 21, next);
}

// Compaction keeps an entry's mark: a read entry moved by cleanup is still reinserted when the
// region it moved to is reclaimed.
TEST_F(DiskReinsertionTest, CompactionKeepsTheReadMark) {
  auto tier = open(small_options());
  int next = put_until(*tier, 100, [&] { return tier->stats().regions == 2; });
  EXPECT_EQ(get(*tier, key_for(100)), value_for(100));
  for (int i = 101; i < next - 1; ++i)
    EXPECT_TRUE(tier->erase(key_for(i)));
  const auto compacted = rt_.run(tier->cleanup());
  ASSERT_EQ(compacted.regions_compacted, 1u);
  ASSERT_FALSE(fs::exists(region_file(1)));
  // Key 100 moved to region 2, still open, beside key next - 1; region 2 goes when the budget is
  // full.
  put_until(*tier, next, [&] { return !fs::exists(region_file(2)); });
  EXPECT_EQ(tier->stats().reinsertions, 1u);
  EXPECT_EQ(get(*tier, key_for(100)), value_for(100));
  EXPECT_FALSE(get(*tier, key_for(next - 1)));
}

}  // namespace
}  // namespace larder
