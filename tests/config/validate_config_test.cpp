#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include <larder/config/config_error.hpp>
#include <larder/config/config_loader.hpp>

#include "scoped_working_directory.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;

class validate_config_test : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_.disk.path = dir_.path() / "disk";
    cfg_.system_cache.temp_dir = dir_.path() / "tmp";
  }

  config_error error() const {
    try {
      validate_config(cfg_);
    } catch (const config_error& e) {
      return e;
    }
    ADD_FAILURE() << "no config_error thrown";
    return config_error{"", ""};
  }

  testing::scratch_directory dir_;
  cache_config cfg_;
};

TEST_F(validate_config_test, directories_to_be_created_pass_and_are_not_created) {
  cfg_.disk.path = dir_.path() / "a" / "b" / "c";
  EXPECT_NO_THROW(validate_config(cfg_));
  EXPECT_FALSE(fs::exists(dir_.path() / "a"));
  EXPECT_FALSE(fs::exists(dir_.path() / "tmp"));
}

TEST_F(validate_config_test, existing_writable_directory_passes) {
  fs::create_directory(cfg_.disk.path);
  EXPECT_NO_THROW(validate_config(cfg_));
}

TEST_F(validate_config_test, path_under_proc_cannot_be_created) {
  cfg_.disk.path = "/proc/x/y";
  const config_error e = error();
  EXPECT_EQ(e.key_path(), "cache.disk.path");
  EXPECT_EQ(e.value(), "/proc/x/y");
  EXPECT_STREQ(e.what(),
               R"(cache.disk.path: "/proc/x/y" cannot be created: /proc is not writable; )"
               "use a directory this process can create or write to");
}

TEST_F(validate_config_test, existing_file_is_not_a_directory) {
  cfg_.disk.path = dir_.write("file", "x");
  const config_error e = error();
  EXPECT_EQ(std::string{e.what()}, "cache.disk.path: \"" + cfg_.disk.path.string() +
                                       "\" is not a directory; use a directory this process can "
                                       "create or write to");
}

TEST_F(validate_config_test, file_in_the_way_of_creation) {
  const fs::path file = dir_.write("file", "x");
  cfg_.system_cache.temp_dir = file / "sub";
  const config_error e = error();
  EXPECT_EQ(e.key_path(), "system_cache.temp_dir");
  EXPECT_NE(
      std::string{e.what()}.find("cannot be created: " + file.string() + " is not a directory"),
      std::string::npos)
      << e.what();
}

TEST_F(validate_config_test, relative_paths_are_checked_from_the_working_directory) {
  cfg_.disk.path = "./cache";
  cfg_.system_cache.temp_dir = ".cache/temp";
  {
    const testing::scoped_working_directory in_scratch{dir_.path()};
    EXPECT_NO_THROW(validate_config(cfg_));
  }
  dir_.write("cache", "a file where the directory belongs");
  const testing::scoped_working_directory in_scratch{dir_.path()};
  const config_error e = error();
  EXPECT_EQ(e.key_path(), "cache.disk.path");
  EXPECT_NE(std::string{e.what()}.find("\"./cache\" is not a directory"), std::string::npos)
      << e.what();
}

}  // namespace
}  // namespace larder
