// scoped_working_directory: runs a test in a given working directory and restores the previous
// one afterwards, for settings that are relative paths (the defaults ./cache and .cache/temp).
// The working directory is process-wide: only for tests that run one at a time, as gtest does.
#pragma once

#include <filesystem>

namespace larder::testing {

class scoped_working_directory {
 public:
  explicit scoped_working_directory(const std::filesystem::path& dir)
      : previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  scoped_working_directory(const scoped_working_directory&) = delete;
  scoped_working_directory& operator=(const scoped_working_directory&) = delete;
  ~scoped_working_directory() { std::filesystem::current_path(previous_); }

 private:
  std::filesystem::path previous_;
};

}  // namespace larder::testing
