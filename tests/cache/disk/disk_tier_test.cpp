#include "larder/cache/disk_tier.hpp"

#include <atomic>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "disk/cache_directory.hpp"
#include "disk/entry_format.hpp"
#include "disk_tier_fixture.hpp"
#include "larder/io/fault_injecting_file_io.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

namespace fs = std::filesystem;

TEST_F(DiskTierTest, RoundTripsFromMemoryAndFromDisk) {
  auto tier = open(options());
  put_range(*tier, 0, 200);  // about ten regions: most are written and read back from files
  expect_all(*tier, 0, 200);
  auto s = tier->stats();
  EXPECT_EQ(s.entries, 200u);
  EXPECT_GT(s.bytes_read, 0u);
  EXPECT_GT(s.reads, 0u);
  EXPECT_LE(s.reads, 200u);  // one read per get at most; the open region is read in memory
  EXPECT_GT(s.bytes_written, 0u);
  EXPECT_GT(s.writes, 0u);
  EXPECT_EQ(s.hits, 200u);
  EXPECT_FALSE(get(*tier, "absent"));
}

// Large raw values are handed out in place from the read buffer, not copied.
TEST_F(DiskTierTest, LargeValuesComeBackExactlyFromDisk) {
  auto o = options(64 << 20);
  o.region_size = 1 << 20;
  auto tier = open(o);
  put_range(*tier, 0, 60, 40000);  // three regions
  EXPECT_FALSE(rt_.run(tier->flush()));
  expect_all(*tier, 0, 60, 40000);
  EXPECT_GT(tier->stats().bytes_read, 20u * 40000);  // most came from the files
}

TEST_F(DiskTierTest, LargeReadsGoIntoRegisteredBuffersAndGiveThemBack) {
  ASSERT_GT(ring_.stats().registered_buffers, 0u) << "the kernel refused the registration";
  auto o = options(256 * region);
  o.region_size = 1 << 20;
  auto tier = open(o);
  constexpr std::size_t large = 40000;
  put_range(*tier, 0, 60, large);  // 2.4 MB: the first regions are written and off the buffers
  put_range(*tier, 60, 120);       // 3000 bytes each
  ASSERT_FALSE(rt_.run(tier->flush()));

  const auto reads_before = tier->stats().reads;
  const auto fixed_before = ring_.stats().fixed_reads;
  expect_all(*tier, 0, 40, large);
  const auto large_reads = tier->stats().reads - reads_before;
  EXPECT_GE(large_reads, 40u);
  EXPECT_EQ(ring_.stats().fixed_reads - fixed_before, large_reads);

  // Small values are read into ordinary buffers.
  rt_.run(tier->close());
  tier.reset();
  tier = open(o);
  expect_all(*tier, 60, 120);
  EXPECT_GT(tier->stats().reads, 0u);
  EXPECT_EQ(ring_.stats().fixed_reads - fixed_before, large_reads);

  // Every buffer went back: the whole pool can be taken again.
  std::vector<std::shared_ptr<io::aligned_buffer>> all;
  for (unsigned i = 0; i < ring_.stats().registered_buffers; ++i) {
    all.push_back(ring_.acquire_registered_buffer(large));
    ASSERT_NE(all.back(), nullptr) << i;
  }
}

TEST_F(DiskTierTest, ReopenAfterCleanCloseRestoresEveryEntryFromTheSnapshot) {
  {
    auto tier = open(options());
    put_range(*tier, 0, 300);
    EXPECT_FALSE(rt_.run(tier->close()));
  }
  auto tier = open(options());
  EXPECT_FALSE(tier->stats().recovered_by_scan);
  EXPECT_EQ(tier->stats().entries, 300u);
  expect_all(*tier, 0, 300);
}

TEST_F(DiskTierTest, ReopenWithoutCloseRebuildsFromFlushedRegions) {
  {
    auto tier = open(options());
    put_range(*tier, 0, 150);
    EXPECT_FALSE(rt_.run(tier->flush()));
    put_range(*tier, 150, 160);  // after the flush: may be lost, never wrong
    // A destroyed tier keeps its directory locked until its writes in flight end; this test
    // reopens in the same process, where a real crash would have ended them.
    ASSERT_TRUE(testing::eventually([&] { return tier->stats().writes_in_flight == 0; }));
  }
  auto tier = open(options());
  EXPECT_TRUE(tier->stats().recovered_by_scan);
  expect_all(*tier, 0, 150);
  for (int i = 150; i < 160; ++i) {
    if (auto v = get(*tier, key_for(i))) {
      EXPECT_EQ(*v, value_for(i));
    }
  }
}

// The open region goes to the device in chunks as it fills, so a crash before any flush keeps
// the entries of the chunks already written, and nothing read back is wrong.
TEST_F(DiskTierTest, TheOpenRegionIsWrittenInChunksBeforeItIsFull) {
  auto o = options(64 << 20);
  o.region_size = 1 << 20;  // chunks of a quarter region
  {
    auto tier = open(o);
    put_range(*tier, 0, 200);  // 600 KB: the region is open, more than half full
    EXPECT_EQ(tier->stats().regions, 1u);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (tier->stats().writes < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto s = tier->stats();
    EXPECT_EQ(s.writes, 2u);  // two full chunks, the third still filling
    EXPECT_EQ(s.bytes_written, 2u * (256 << 10));
  }  // destroyed without flush or close: as after a crash
  auto tier = open(o);
  EXPECT_TRUE(tier->stats().recovered_by_scan);
  // Every entry wholly inside the first 512 KiB (about 170 of them) survives.
  int found = 0;
  for (int i = 0; i < 200; ++i) {
    if (auto v = get(*tier, key_for(i))) {
      EXPECT_EQ(*v, value_for(i));
      ++found;
    }
  }
  EXPECT_GE(found, 160);
  EXPECT_LT(found, 200);
}

TEST_F(DiskTierTest, AFillReusesTheBuffersOfWrittenRegions) {
  auto tier = open(options());
  put_range(*tier, 0, 900);  // 2.7 MB: about 40 regions of 64 KiB
  ASSERT_FALSE(rt_.run(tier->flush()));
  const auto s = tier->stats();
  EXPECT_GE(s.regions, 40u);
  // At most four written regions and the open one hold buffers at once (disk_tier.cpp,
  // max_regions_being_written); every later region takes over a written region's buffer.
  EXPECT_LE(s.region_buffers_allocated, 5u);
  EXPECT_GE(s.region_buffers_allocated, 1u);
  expect_all(*tier, 0, 900);
}

TEST_F(DiskTierTest, EraseSurvivesARebuildThroughItsTombstone) {
  {
    auto tier = open(options());
    put_range(*tier, 0, 50);
    EXPECT_TRUE(tier->erase(key_for(7)));
    EXPECT_FALSE(tier->erase(key_for(7)));
    EXPECT_FALSE(get(*tier, key_for(7)));
    EXPECT_FALSE(rt_.run(tier->flush()));
  }
  auto tier = open(options());
  EXPECT_TRUE(tier->stats().recovered_by_scan);
  EXPECT_FALSE(get(*tier, key_for(7)));
  EXPECT_TRUE(get(*tier, key_for(8)));
}

TEST_F(DiskTierTest, ALaterPutReplacesTheValueAcrossARebuild) {
  {
    auto tier = open(options());
    put(*tier, "k", "first");
    put_range(*tier, 0, 40);  // pushes "first" into an older region
    put(*tier, "k", "second");
    EXPECT_EQ(get(*tier, "k"), "second");
    EXPECT_FALSE(rt_.run(tier->flush()));
  }
  auto tier = open(options());
  EXPECT_EQ(get(*tier, "k"), "second");
}

TEST_F(DiskTierTest, TheDiskBudgetIsRespectedWithinOneRegionAndOldestRegionsGoFirst) {
  auto tier = open(options(8 * region));
  put_range(*tier, 0, 400);  // about twenty regions' worth
  EXPECT_FALSE(rt_.run(tier->flush()));
  auto s = tier->stats();
  EXPECT_LE(s.bytes_used, 8 * region);
  EXPECT_GT(s.regions_reclaimed, 0u);
  std::size_t region_files = 0;
  for (const auto& f : std::filesystem::directory_iterator(scratch_.path() / "cache" / "regions")) {
    region_files += f.path().extension() == ".region";
  }
  EXPECT_LE(region_files, 8u);
  EXPECT_FALSE(get(*tier, key_for(0)));  // fifo: the first entries went with the first regions
  expect_all(*tier, 380, 400);
}

TEST_F(DiskTierTest, LruRegionEvictionKeepsTheRegionsStillRead) {
  auto o = options(8 * region);
  o.eviction = region_eviction::lru;
  auto tier = open(o);
  put_range(*tier, 0, 100);  // about five regions
  EXPECT_FALSE(rt_.run(tier->flush()));
  for (int round = 0; round < 3; ++round) {
    expect_all(*tier, 0, 10);  // keep the first region in use
    put_range(*tier, 100 + round * 60, 160 + round * 60);
    EXPECT_FALSE(rt_.run(tier->flush()));
  }
  EXPECT_GT(tier->stats().regions_reclaimed, 0u);
  EXPECT_LE(tier->stats().bytes_used, 8 * region);
  expect_all(*tier, 0, 10);               // read often: kept
  EXPECT_FALSE(get(*tier, key_for(30)));  // an old region nobody read: reclaimed
}

TEST_F(DiskTierTest, CompressionStoresLessAndRoundTrips) {
  auto plain_options = options();
  auto packed_options = options();
  packed_options.path = scratch_.path() / "packed";
  packed_options.compression = true;
  auto plain = open(plain_options);
  auto packed = open(packed_options);
  const std::string compressible(8000, 'x');
  for (int i = 0; i < 100; ++i) {
    put(*plain, key_for(i), compressible);
    put(*packed, key_for(i), compressible);
  }
  EXPECT_FALSE(rt_.run(plain->flush()));
  EXPECT_FALSE(rt_.run(packed->flush()));
  EXPECT_LT(packed->stats().bytes_written * 10, plain->stats().bytes_written);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(get(*packed, key_for(i)), compressible);
}

TEST_F(DiskTierTest, ExpiredEntriesAreMisses) {
  auto tier = open(options());
  put(*tier, "old", "v", std::chrono::system_clock::now() - 1s);
  put(*tier, "new", "v", std::chrono::system_clock::now() + 1h);
  EXPECT_FALSE(get(*tier, "old"));
  EXPECT_TRUE(get(*tier, "new"));
}

TEST_F(DiskTierTest, OversizedValuesAreRefused) {
  auto tier = open(options());
  EXPECT_FALSE(put(*tier, "big", std::string(region, 'b')));
  EXPECT_EQ(tier->stats().rejections, 1u);
}

TEST_F(DiskTierTest, ASecondOpenOfTheDirectoryIsRefused) {
  auto tier = open(options());
  EXPECT_THROW(open(options()), disk::directory_error);
}

// Bytes flipped at random offsets of the region files: every damaged entry is detected and
// dropped, every other entry is still served, and no read returns wrong bytes.
TEST_F(DiskTierTest, CorruptedBytesAreDetectedAndTheRestServed) {
  {
    auto tier = open(options());
    put_range(*tier, 0, 300);
    EXPECT_FALSE(rt_.run(tier->close()));
  }
  std::mt19937 rng(99);
  int flips = 0;
  for (const auto& f : std::filesystem::directory_iterator(scratch_.path() / "cache" / "regions")) {
    std::fstream file(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    for (int n = 0; n < 3; ++n) {
      // Within the written part: 64 KiB regions hold about 20 entries of 3 KiB.
      const auto offset = static_cast<std::streamoff>(64 + rng() % 60000);
      file.seekg(offset);
      char c = 0;
      file.get(c);
      file.seekp(offset);
      file.put(static_cast<char>(c ^ 0x20));
      ++flips;
    }
  }
  auto tier = open(options());
  int served = 0;
  for (int i = 0; i < 300; ++i) {
    if (auto v = get(*tier, key_for(i))) {
      ASSERT_EQ(*v, value_for(i)) << "wrong bytes served for " << key_for(i);
      ++served;
    }
  }
  const auto s = tier->stats();
  EXPECT_GT(s.checksum_failures, 0u);
  EXPECT_LE(s.checksum_failures, static_cast<std::uint64_t>(flips));
  EXPECT_EQ(served + static_cast<int>(s.checksum_failures), 300);
  EXPECT_GE(served, 300 - flips);
}

TEST_F(DiskTierTest, AWriteErrorDegradesToMissesAndFlushReportsIt) {
  io::fault_injecting_file_io faulty(file_io_);
  faulty.inject_when(
      [](const auto& op) { return op.kind == io::fault_injecting_file_io::op_kind::write; },
      io::fault_injecting_file_io::fault::fail(std::errc::no_space_on_device));
  auto tier = open(options(), &faulty);
  // The first chunk write fails while puts go on; puts after it has failed are refused.
  EXPECT_TRUE(put(*tier, key_for(0), value_for(0)));
  for (int i = 1; i < 10; ++i)
    put(*tier, key_for(i), value_for(i));
  const std::error_code error = rt_.run(tier->flush());
  EXPECT_EQ(error, std::make_error_code(std::errc::no_space_on_device));
  auto s = tier->stats();
  EXPECT_TRUE(s.degraded);
  EXPECT_GE(s.io_errors, 1u);
  EXPECT_FALSE(get(*tier, key_for(1)));  // degraded: memory only
  EXPECT_FALSE(put(*tier, "later", "v"));
}

TEST_F(DiskTierTest, AReadErrorIsAMissNotACrash) {
  io::fault_injecting_file_io faulty(file_io_);
  auto tier = open(options(), &faulty);
  put_range(*tier, 0, 100);
  EXPECT_FALSE(rt_.run(tier->flush()));
  faulty.inject_when(
      [](const auto& op) { return op.kind == io::fault_injecting_file_io::op_kind::read; },
      io::fault_injecting_file_io::fault::fail(std::errc::io_error));
  EXPECT_FALSE(get(*tier, key_for(0)));  // on disk: the read fails
  EXPECT_TRUE(tier->stats().degraded);
}

TEST_F(DiskTierTest, ATornWriteAfterAFlushLosesOnlyUnflushedEntries) {
  io::fault_injecting_file_io faulty(file_io_);
  std::uint64_t flushed_writes = 0;
  {
    auto tier = open(options(), &faulty);
    put_range(*tier, 0, 100);
    EXPECT_FALSE(rt_.run(tier->flush()));
    flushed_writes = faulty.operations();
    // Every later write is torn after its first block but claims success, as on power loss.
    faulty.inject_when(
        [](const auto& op) { return op.kind == io::fault_injecting_file_io::op_kind::write; },
        io::fault_injecting_file_io::fault::torn_write(4096, {}));
    put_range(*tier, 100, 200);
    EXPECT_FALSE(rt_.run(tier->flush()));
  }
  faulty.clear();
  auto tier = open(options(), &faulty);
  expect_all(*tier, 0, 100);
  for (int i = 100; i < 200; ++i) {
    if (auto v = get(*tier, key_for(i))) {
      EXPECT_EQ(*v, value_for(i));
    }
  }
  EXPECT_GT(flushed_writes, 0u);
}

// A flush that starts while another is syncing a region syncs it too, instead of returning before
// the other's sync has made the data durable (compaction and reinsertion flush beside the
// caller's flushes, and delete a region once their flush returns).
TEST_F(DiskTierTest, AFlushDuringAnothersSyncSyncsToo) {
  using faults = io::fault_injecting_file_io;
  faults faulty(file_io_);
  auto tier = open(options(), &faulty);
  put_range(*tier, 0, 10);
  EXPECT_FALSE(rt_.run(tier->flush()));
  put_range(*tier, 10, 11);  // only the open region has data to sync now
  std::atomic<int> fsyncs = 0;
  faulty.inject_when(
      [&](const faults::op_info& op) {
        if (op.kind != faults::op_kind::fsync) return false;
        ++fsyncs;
        return true;
      },
      faults::fault::slow(500ms));
  std::atomic<bool> first_done = false;
  rt_.spawn([&]() -> asio::awaitable<void> {
    EXPECT_FALSE(co_await tier->flush());
    first_done = true;
  });
  ASSERT_TRUE(testing::eventually([&] { return fsyncs == 1; }));
  EXPECT_FALSE(rt_.run(tier->flush()));
  EXPECT_EQ(fsyncs, 2);  // its own fdatasync of the region the first flush is still syncing
  EXPECT_TRUE(testing::eventually([&] { return first_done.load(); }));
}

// LRU eviction may delete a region that is not the oldest. After a crash, the scan must not
// bring back what that region superseded: an older value of a key it rewrote, or a key it erased.
TEST_F(DiskTierTest, ACrashAfterLruEvictionNeverResurrectsSupersededValues) {
  auto o = options(4 * region);
  o.eviction = region_eviction::lru;
  {
    auto tier = open(o);
    ASSERT_TRUE(put(*tier, "rewritten", "old value"));
    ASSERT_TRUE(put(*tier, "erased", "erased value"));
    put_range(*tier, 0, 19);  // region 1 full
    ASSERT_TRUE(put(*tier, "rewritten", "new value"));
    EXPECT_TRUE(tier->erase("erased"));
    put_range(*tier, 100, 120);  // region 2 holds the new value and the tombstone
    for (int round = 0; round < 4; ++round) {
      expect_all(*tier, 0, 19);  // region 1 stays recently read
      put_range(*tier, 200 + 21 * round, 221 + 21 * round);
    }
    EXPECT_GE(tier->stats().regions_reclaimed, 1u);
    EXPECT_FALSE(get(*tier, "rewritten") == std::optional<std::string>("old value"));
    EXPECT_FALSE(rt_.run(tier->flush()));
    EXPECT_TRUE(fs::exists(o.path / "evictions.log"));
  }  // a crash: the next open scans
  auto tier = open(o);
  EXPECT_TRUE(tier->stats().recovered_by_scan);
  const auto rewritten = get(*tier, "rewritten");
  EXPECT_NE(rewritten, std::optional<std::string>("old value"));
  EXPECT_FALSE(get(*tier, "erased"));
  expect_all(*tier, 0, 19);
}

TEST_F(DiskTierTest, LiveBytesFollowPutsReplacementsAndErasures) {
  auto tier = open(options());
  const std::uint64_t one = disk::encoded_size(key_for(1).size(), 3000);
  put_range(*tier, 0, 3);
  EXPECT_EQ(tier->stats().live_bytes, 3 * one);
  ASSERT_TRUE(put(*tier, key_for(1), value_for(1)));  // replaced: the old copy is dead
  EXPECT_EQ(tier->stats().live_bytes, 3 * one);
  EXPECT_TRUE(tier->erase(key_for(2)));
  EXPECT_EQ(tier->stats().live_bytes, 2 * one);
}

// Regions whose entries were mostly erased are compacted: the survivors move to the open region
// (byte for byte), the sparse regions are deleted, erased keys stay erased and expired entries
// are dropped, across a crash too.
TEST_F(DiskTierTest, CleanupCompactsSparseRegionsAndKeepsEverySurvivor) {
  const auto soon = std::chrono::system_clock::now() + std::chrono::milliseconds(50);
  std::vector<int> survivors;
  {
    auto tier = open(options());
    put_range(*tier, 0, 100);  // 21 entries per 64 KiB region: about five regions
    for (int i = 0; i < 60; ++i) {
      if (i % 10 == 0) {
        survivors.push_back(i);
      } else if (i % 10 == 5) {
        ASSERT_TRUE(put(*tier, key_for(i), value_for(i), soon));  // rewritten, expiring
      } else {
        EXPECT_TRUE(tier->erase(key_for(i)));
      }
    }
    for (int i = 60; i < 100; ++i)
      survivors.push_back(i);
    EXPECT_FALSE(rt_.run(tier->flush()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto before = tier->stats();
    const disk_cleanup_report r = rt_.run(tier->cleanup());
    EXPECT_FALSE(r.error);
    EXPECT_GE(r.regions_compacted, 2u);
    EXPECT_EQ(tier->stats().regions_compacted, r.regions_compacted);
    EXPECT_GT(r.entries_moved, 0u);
    EXPECT_LT(tier->stats().regions, before.regions + 1);
    for (int i : survivors)
      EXPECT_EQ(get(*tier, key_for(i)), value_for(i)) << i;
    for (int i = 0; i < 60; ++i) {
      if (i % 10 != 0) {
        EXPECT_FALSE(get(*tier, key_for(i))) << i;
      }
    }
  }  // no close: the next open scans the log
  auto tier = open(options());
  EXPECT_TRUE(tier->stats().recovered_by_scan);
  for (int i : survivors)
    EXPECT_EQ(get(*tier, key_for(i)), value_for(i)) << i;
  for (int i = 0; i < 60; ++i) {
    if (i % 10 != 0) {
      EXPECT_FALSE(get(*tier, key_for(i))) << i;
    }
  }
}

// A region whose entries have all expired is dropped whole by cleanup, unread; a region with an
// entry that never expires stays.
TEST_F(DiskTierTest, CleanupDropsRegionsWhoseEntriesHaveAllExpired) {
  auto tier = open(options());
  const auto soon = std::chrono::system_clock::now() + std::chrono::milliseconds(50);
  for (int i = 0; i < 42; ++i)  // two full regions of expiring entries
    ASSERT_TRUE(put(*tier, key_for(i), value_for(i), soon));
  put_range(*tier, 100, 130);  // then entries without expiry
  EXPECT_FALSE(rt_.run(tier->flush()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto before = tier->stats();
  const auto r = rt_.run(tier->cleanup());
  EXPECT_EQ(r.regions_expired, 2u);
  EXPECT_EQ(r.regions_compacted, 0u);
  EXPECT_EQ(tier->stats().regions, before.regions - 2);
  EXPECT_EQ(tier->stats().bytes_read, before.bytes_read);  // dropped without being read
  for (int i = 0; i < 42; ++i)
    EXPECT_FALSE(get(*tier, key_for(i))) << i;
  expect_all(*tier, 100, 130);
}

TEST_F(DiskTierTest, CleanupRemovesOrphanedFilesOnly) {
  auto tier = open(options());
  put_range(*tier, 0, 50);
  EXPECT_FALSE(rt_.run(tier->flush()));
  const fs::path dir = options().path;
  std::ofstream(dir / "index.snapshot.tmp") << "left by a crash in close";
  std::ofstream(dir / "regions" / "0000000000000001.region.orphan") << "not ours by name";
  // A region file no region holds: the name of a reclaimed one.
  const auto regions_before = tier->stats().regions;
  { std::ofstream(dir / "regions" / "0000000000000000.region") << "reclaimed"; }
  const auto r = rt_.run(tier->cleanup());
  EXPECT_EQ(r.orphans_removed, 2u);
  EXPECT_FALSE(fs::exists(dir / "index.snapshot.tmp"));
  EXPECT_FALSE(fs::exists(dir / "regions" / "0000000000000000.region"));
  EXPECT_TRUE(fs::exists(dir / "regions" / "0000000000000001.region.orphan"));  // not a region name
  EXPECT_EQ(tier->stats().regions, regions_before);
  expect_all(*tier, 0, 50);
}

TEST_F(DiskTierTest, WithAdmissionOffPutsAreRefusedAndReadsGoOn) {
  auto tier = open(options());
  put_range(*tier, 0, 5);
  tier->set_admitting(false);
  EXPECT_FALSE(put(*tier, "new", "value"));
  EXPECT_FALSE(tier->try_put("new", bytes("value")));
  EXPECT_FALSE(tier->stats().admitting);
  EXPECT_EQ(tier->stats().rejections, 2u);
  expect_all(*tier, 0, 5);
  tier->set_admitting(true);
  EXPECT_TRUE(put(*tier, "new", "value"));
}

TEST_F(DiskTierTest, WorksOnTmpfsWithoutODirect) {
  auto o = options();
  o.path = std::filesystem::path("/dev/shm") / ("larder-test-" + std::to_string(::getpid()));
  {
    auto tier = open(o);
    put_range(*tier, 0, 100);
    EXPECT_FALSE(rt_.run(tier->close()));
  }
  {
    auto tier = open(o);
    expect_all(*tier, 0, 100);
  }
  std::filesystem::remove_all(o.path);
}

}  // namespace
}  // namespace larder
