#include <cstdint>
#include <filesystem>
#include <string>
#include <sys/statvfs.h>

#include <gtest/gtest.h>

#include <larder/config/host_resources.hpp>

#include "scratch_directory.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;

// Other processes write to the same disk between two readings of its free space.
constexpr double free_space_drift = 256.0 * 1024 * 1024;

TEST(free_disk_bytes, is_what_unprivileged_writers_may_still_use) {
  const testing::scratch_directory dir;
  struct statvfs info {};
  ASSERT_EQ(::statvfs(dir.path().c_str(), &info), 0);
  const double available = static_cast<double>(info.f_bavail) * info.f_frsize;
  EXPECT_NEAR(static_cast<double>(free_disk_bytes(dir.path())), available, free_space_drift);
  EXPECT_LE(free_disk_bytes(dir.path()), filesystem_capacity_bytes(dir.path()));
}

TEST(free_disk_bytes, of_a_missing_directory_is_that_of_its_nearest_existing_ancestor) {
  const testing::scratch_directory dir;
  const fs::path missing = dir.path() / "a" / "b" / "c";
  EXPECT_NEAR(static_cast<double>(free_disk_bytes(missing)),
              static_cast<double>(fs::space(dir.path()).available), free_space_drift);
  EXPECT_FALSE(fs::exists(dir.path() / "a")) << "asking creates nothing";
}

TEST(free_disk_bytes, unreadable_filesystem_throws_naming_the_path) {
  // A dangling link counts as existing (nothing can be created in its place), and statvfs through
  // it fails.
  const testing::scratch_directory dir;
  const fs::path link = dir.path() / "dangling";
  fs::create_symlink(dir.path() / "nowhere", link);
  try {
    free_disk_bytes(link / "cache");
    FAIL() << "expected a filesystem_error";
  } catch (const fs::filesystem_error& e) {
    EXPECT_EQ(e.path1(), link);
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  }
}

TEST(host_resources, default_functions_read_this_machine) {
  const testing::scratch_directory dir;
  const host_resources host;
  EXPECT_GT(host.available_memory(), 0u);
  EXPECT_EQ(host.filesystem_capacity(dir.path()), fs::space(dir.path()).capacity);
  EXPECT_NEAR(static_cast<double>(host.free_disk(dir.path())),
              static_cast<double>(fs::space(dir.path()).available), free_space_drift);
}

}  // namespace
}  // namespace larder
