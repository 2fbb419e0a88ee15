#include "disk/cache_directory.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "scratch_directory.hpp"

namespace larder::disk {
namespace {

using testing::scratch_directory;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string open_error(const std::filesystem::path& p, directory_settings settings) {
  try {
    cache_directory::open(p, settings);
  } catch (const directory_error& e) {
    return e.what();
  }
  return "";
}

class CacheDirectoryTest : public ::testing::Test {
 protected:
  scratch_directory scratch_;
  std::filesystem::path dir_ = scratch_.path() / "cache";
  directory_settings settings_{.region_size = 1 << 20};
};

TEST_F(CacheDirectoryTest, CreatesTheManifestOnceAndReopens) {
  {
    auto d = cache_directory::open(dir_, settings_);
    EXPECT_TRUE(d.created());
    EXPECT_TRUE(std::filesystem::is_directory(d.regions_path()));
  }
  EXPECT_EQ(read_text(dir_ / "manifest").find("format_version=1\nregion_size=1048576\n") !=
                std::string::npos,
            true);
  auto again = cache_directory::open(dir_, settings_);
  EXPECT_FALSE(again.created());
}

TEST_F(CacheDirectoryTest, ASecondOpenInThisProcessIsRefused) {
  auto first = cache_directory::open(dir_, settings_);
  const auto error = open_error(dir_, settings_);
  EXPECT_NE(error.find("is in use by another cache (process " + std::to_string(::getpid()) + ")"),
            std::string::npos)
      << error;
}

TEST_F(CacheDirectoryTest, ASecondProcessIsRefusedUntilTheFirstCloses) {
  auto first = std::make_unique<cache_directory>(cache_directory::open(dir_, settings_));
  const auto child_sees = [&] {
    const pid_t child = ::fork();
    if (child == 0) {
      const auto error = open_error(dir_, settings_);
      ::_exit(error.empty()                                                ? 0
              : error.find("in use by another cache") != std::string::npos ? 1
                                                                           : 2);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(child_sees(), 1);  // refused, with the in-use message
  first.reset();
  EXPECT_EQ(child_sees(), 0);  // free again
}

TEST_F(CacheDirectoryTest, AnUnknownFormatVersionIsRefusedAndLeftUntouched) {
  std::filesystem::create_directories(dir_);
  const std::string future = "format_version=2\nregion_size=1048576\nnew_field=x\n";
  std::ofstream(dir_ / "manifest") << future;
  const auto error = open_error(dir_, settings_);
  EXPECT_NE(error.find("has format version 2; this larder reads 1"), std::string::npos) << error;
  EXPECT_EQ(read_text(dir_ / "manifest"), future);
}

TEST_F(CacheDirectoryTest, AChangedRegionSizeIsRefused) {
  { cache_directory::open(dir_, settings_); }
  const auto error = open_error(dir_, {.region_size = 2 << 20});
  EXPECT_NE(error.find("was created with region_size 1048576 bytes, and 2097152 is configured"),
            std::string::npos)
      << error;
}

TEST_F(CacheDirectoryTest, AManifestThatIsNotOursIsRefused) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "manifest") << "hello\n";
  EXPECT_NE(open_error(dir_, settings_).find("is not key=value"), std::string::npos);
  std::ofstream(dir_ / "manifest") << "format_version=one\n";
  EXPECT_NE(open_error(dir_, settings_).find("\"one\" is not a number"), std::string::npos);
  std::ofstream(dir_ / "manifest") << "region_size=5\n";
  EXPECT_NE(open_error(dir_, settings_).find("has no format_version"), std::string::npos);
}

TEST_F(CacheDirectoryTest, APathThatIsAFileIsRefused) {
  std::ofstream(scratch_.path() / "file") << "x";
  EXPECT_NE(open_error(scratch_.path() / "file", settings_).find("cannot be created"),
            std::string::npos);
}

}  // namespace
}  // namespace larder::disk
