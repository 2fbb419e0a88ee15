// scratch_directory: a fresh directory, under the test's temporary directory or a chosen base
// (a tmpfs, say), removed with everything in it when the object goes away. Shared by every test
// folder: config files, fake /proc and /sys trees, io files, disk-tier directories.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include <gtest/gtest.h>

namespace larder::testing {

class scratch_directory {
 public:
  explicit scratch_directory(const std::filesystem::path& base = ::testing::TempDir()) {
    std::string pattern = (base / "larder-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
    path_ = pattern;
  }
  scratch_directory(const scratch_directory&) = delete;
  scratch_directory& operator=(const scratch_directory&) = delete;
  ~scratch_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const { return path_; }

  // Writes `content` to path()/relative, creating the directories on the way.
  std::filesystem::path write(const std::filesystem::path& relative,
                              std::string_view content) const {
    const std::filesystem::path file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream{file, std::ios::binary} << content;
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace larder::testing
