// larder stat / verify's library side on real disk-tier directories: counts of a scripted
// workload, damage put into region files on purpose, repair, and a reopen of the tier after it.
#include "larder/cache/disk/directory_report.hpp"

#include <fstream>
#include <iterator>
#include <numeric>
#include <unistd.h>

#include "disk/entry_format.hpp"
#include "disk_tier_fixture.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Where an entry lies in the region files: found by its key followed by its raw value.
struct located_entry {
  fs::path file;
  std::uint64_t entry_offset = 0;
  std::uint64_t value_offset = 0;
};

located_entry locate(const fs::path& dir, const std::string& key, const std::string& value) {
  for (const auto& item : fs::directory_iterator(dir / "regions")) {
    const std::string bytes = read_all(item.path());
    const auto at = bytes.find(key + value);
    if (at != std::string::npos) {
      return {item.path(), at - disk::entry_header_size, at + key.size()};
    }
  }
  ADD_FAILURE() << "no entry for " << key;
  return {};
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  const char c = static_cast<char>(f.get() ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(c);
}

struct verify_counts {
  std::uint64_t corrupt = 0;
  std::uint64_t torn_tails = 0;
  std::uint64_t entries_checked = 0;
};

void expect_counts(const disk::verify_report& r, const verify_counts& expected) {
  EXPECT_EQ(r.corrupt, expected.corrupt);
  EXPECT_EQ(r.torn_tails, expected.torn_tails);
  EXPECT_EQ(r.entries_checked, expected.entries_checked);
}

// The report lists one damaged stretch, of `kind`, where the entry `at` starts.
void expect_only_damage(const disk::verify_report& r, disk::damage_kind kind,
                        const located_entry& at) {
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_EQ(r.damage[0].kind, kind);
  EXPECT_EQ(r.damage[0].region_file, at.file.filename().string());
  EXPECT_EQ(r.damage[0].offset, at.entry_offset);
}

std::uint64_t encoded(const std::string& key, std::size_t value_size) {
  return disk::encoded_size(key.size(), value_size);
}

class DirectoryReportTest : public DiskTierTest {
 protected:
  fs::path dir() { return options().path; }

  // Keys [0, n) with their values, closed cleanly.
  void write_closed(int n) {
    auto tier = open(options());
    put_range(*tier, 0, n);
    ASSERT_FALSE(rt_.run(tier->close()));
  }

  // Every key in [0, n) but `missing` reads back its value; `missing` is a miss.
  void expect_all_but(int n, int missing) {
    auto tier = open(options());
    EXPECT_FALSE(get(*tier, key_for(missing)));
    for (int i = 0; i < n; ++i) {
      if (i == missing) continue;
      auto v = get(*tier, key_for(i));
      ASSERT_TRUE(v) << key_for(i);
      EXPECT_EQ(*v, value_for(i)) << key_for(i);
    }
    ASSERT_FALSE(rt_.run(tier->close()));
  }

  // Damages key 17's value and repairs the directory.
  void damage_and_repair() {
    write_closed(40);
    const auto at = locate(dir(), key_for(17), value_for(17));
    flip_byte(at.file, at.value_offset + 100);
    const auto repaired = disk::verify_cache_directory(dir(), {.repair = true});
    EXPECT_EQ(repaired.corrupt, 1u);
    EXPECT_TRUE(repaired.repaired);
    const auto after = disk::verify_cache_directory(dir(), {});
    EXPECT_TRUE(after.clean());
    EXPECT_EQ(after.torn_tails, 0u);
    EXPECT_EQ(after.entries_checked, 39u);
  }
};

// 40 puts, 10 of them overwritten, 5 erased, and one put that has expired.
TEST_F(DirectoryReportTest, StatCountsAScriptedWorkloadExactly) {
  auto tier = open(options());
  put_range(*tier, 0, 40);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(put(*tier, key_for(i), value_for(1000 + i)));
  for (int i = 30; i < 35; ++i)
    ASSERT_TRUE(tier->erase(key_for(i)));
  const std::string stale_key = "expired/1";
  ASSERT_TRUE(put(*tier, stale_key, value_for(1),
                  std::chrono::system_clock::now() - std::chrono::hours(1)));

  const auto open_report = disk::inspect_cache_directory(dir());
  ASSERT_TRUE(open_report.lock_owner);
  EXPECT_EQ(*open_report.lock_owner, std::to_string(::getpid()));
  EXPECT_FALSE(open_report.index_snapshot);
  ASSERT_FALSE(rt_.run(tier->close()));
  tier.reset();

  const auto r = disk::inspect_cache_directory(dir());
  std::uint64_t live_bytes = 0;
  std::uint64_t dead_bytes = encoded(stale_key, 3000);
  for (int i = 0; i < 40; ++i) {
    const std::string key = key_for(i);
    const bool erased = i >= 30 && i < 35;
    if (i < 10) dead_bytes += encoded(key, 3000);  // the value overwritten
    if (erased) {
      dead_bytes += encoded(key, 3000) + encoded(key, 0);  // the value and its tombstone
    } else {
      live_bytes += encoded(key, 3000);
    }
  }
  EXPECT_EQ(r.format_version, 1u);
  EXPECT_EQ(r.region_size, region);
  EXPECT_EQ(r.live_entries, 35u);
  EXPECT_EQ(r.live_bytes, live_bytes);
  EXPECT_EQ(r.dead_entries, 10u + 5u + 5u + 1u);
  EXPECT_EQ(r.dead_bytes, dead_bytes);
  EXPECT_EQ(r.tombstones, 5u);
  EXPECT_EQ(r.expired_entries, 1u);
  EXPECT_DOUBLE_EQ(r.live_share(),
                   static_cast<double>(live_bytes) / static_cast<double>(live_bytes + dead_bytes));
  std::uint64_t files = 0;
  std::uint64_t file_bytes = 0;
  for (const auto& item : fs::directory_iterator(dir() / "regions")) {
    ++files;
    file_bytes += fs::file_size(item.path());
  }
  EXPECT_EQ(r.region_files, files);
  EXPECT_EQ(r.file_bytes, file_bytes);
  ASSERT_FALSE(r.live_ages.empty());
  EXPECT_EQ(r.live_ages.front().entries, 35u);  // written just now
  EXPECT_EQ(r.live_ages.front().bytes, live_bytes);
  EXPECT_TRUE(r.index_snapshot);
  EXPECT_FALSE(r.lock_owner);
}

TEST_F(DirectoryReportTest, VerifyOfACleanDirectoryFindsNoDamage) {
  write_closed(40);
  std::uint64_t last_done = 0;
  std::uint64_t last_total = 0;
  const auto r =
      disk::verify_cache_directory(dir(), {}, [&](std::uint64_t done, std::uint64_t total) {
        EXPECT_GE(done, last_done);
        last_done = done;
        last_total = total;
      });
  EXPECT_TRUE(r.clean());
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_EQ(r.torn_tails, 0u);
  EXPECT_EQ(r.entries_checked, 40u);
  EXPECT_TRUE(r.damage.empty());
  EXPECT_FALSE(r.repaired);
  EXPECT_GT(r.bytes_read, 0u);
  EXPECT_EQ(last_done, r.bytes_read);
  EXPECT_EQ(last_total, r.bytes_read);
}

TEST_F(DirectoryReportTest, VerifyFindsAFlippedValueByRegionAndOffset) {
  write_closed(40);
  const auto at = locate(dir(), key_for(17), value_for(17));
  flip_byte(at.file, at.value_offset + 100);
  const auto r = disk::verify_cache_directory(dir(), {});
  EXPECT_FALSE(r.clean());
  expect_counts(r, {.corrupt = 1, .torn_tails = 0, .entries_checked = 39});
  expect_only_damage(r, disk::damage_kind::corrupt_entry, at);
  EXPECT_LE(r.damage[0].length, encoded(key_for(17), 3000));
  // Reading is all verify does without --repair.
  EXPECT_FALSE(disk::verify_cache_directory(dir(), {}).clean());
}

TEST_F(DirectoryReportTest, RepairThenReopenFromTheSnapshotServesEveryOtherEntry) {
  damage_and_repair();
  ASSERT_TRUE(fs::exists(dir() / "index.snapshot"));
  expect_all_but(40, 17);
}

TEST_F(DirectoryReportTest, RepairThenReopenByScanningServesEveryOtherEntry) {
  damage_and_repair();
  fs::remove(dir() / "index.snapshot");
  expect_all_but(40, 17);
}

TEST_F(DirectoryReportTest, ATruncatedRegionIsATornTailNotCorruption) {
  write_closed(40);
  const auto at = locate(dir(), key_for(39), value_for(39));
  fs::resize_file(at.file, at.value_offset + 500);
  const auto r = disk::verify_cache_directory(dir(), {});
  EXPECT_TRUE(r.clean());
  expect_counts(r, {.corrupt = 0, .torn_tails = 1, .entries_checked = 39});
  expect_only_damage(r, disk::damage_kind::torn_tail, at);

  EXPECT_EQ(disk::verify_cache_directory(dir(), {.repair = true}).torn_tails, 1u);
  EXPECT_EQ(disk::verify_cache_directory(dir(), {}).torn_tails, 0u);
  fs::remove(dir() / "index.snapshot");  // as after the crash that tore it
  expect_all_but(40, 39);
}

TEST_F(DirectoryReportTest, ADamagedRegionHeaderIsCorruptionAndRepairRestoresItsEntries) {
  write_closed(40);
  const auto at = locate(dir(), key_for(0), value_for(0));
  flip_byte(at.file, 9);  // the sequence number
  const auto r = disk::verify_cache_directory(dir(), {});
  EXPECT_EQ(r.corrupt, 1u);
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_EQ(r.damage[0].kind, disk::damage_kind::region_header);
  EXPECT_EQ(r.damage[0].offset, 0u);
  EXPECT_EQ(r.entries_checked, 40u);
  disk::verify_cache_directory(dir(), {.repair = true});
  EXPECT_TRUE(disk::verify_cache_directory(dir(), {}).clean());
  fs::remove(dir() / "index.snapshot");
  auto tier = open(options());
  expect_all(*tier, 0, 40);
  ASSERT_FALSE(rt_.run(tier->close()));
}

TEST_F(DirectoryReportTest, RepairIsRefusedWhileACacheHasTheDirectoryOpenAndVerifyReadsOn) {
  auto tier = open(options());
  put_range(*tier, 0, 10);
  ASSERT_FALSE(rt_.run(tier->flush()));
  const std::string pid = std::to_string(::getpid());
  try {
    disk::verify_cache_directory(dir(), {.repair = true});
    ADD_FAILURE() << "repair took a directory in use";
  } catch (const disk::directory_error& e) {
    EXPECT_NE(std::string(e.what()).find("process " + pid), std::string::npos) << e.what();
  }
  const auto r = disk::verify_cache_directory(dir(), {});
  ASSERT_TRUE(r.lock_owner);
  EXPECT_EQ(*r.lock_owner, pid);
  EXPECT_EQ(r.entries_checked, 10u);
  EXPECT_TRUE(r.clean());
  ASSERT_FALSE(rt_.run(tier->close()));
}

TEST_F(DirectoryReportTest, ADirectoryWithoutAManifestIsNotACacheDirectory) {
  fs::create_directories(dir());
  EXPECT_THROW(disk::inspect_cache_directory(dir()), disk::directory_error);
  EXPECT_THROW(disk::verify_cache_directory(dir(), {}), disk::directory_error);
  EXPECT_THROW(disk::inspect_cache_directory(dir() / "absent"), disk::directory_error);
}

}  // namespace
}  // namespace larder
