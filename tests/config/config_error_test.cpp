#include <gtest/gtest.h>

#include <larder/config/config_error.hpp>

namespace larder {
namespace {

TEST(config_error, value_error_reads_key_value_problem_and_accepted_forms) {
  const config_error e{"cache.memory.size", "4XB", "is not a size", "use e.g. 512MB, 4GiB or 30%"};
  EXPECT_STREQ(e.what(), R"(cache.memory.size: "4XB" is not a size; use e.g. 512MB, 4GiB or 30%)");
  EXPECT_EQ(e.key_path(), "cache.memory.size");
  EXPECT_EQ(e.value(), "4XB");
}

TEST(config_error, quoted_value_shows_quotes_and_control_characters_escaped) {
  const config_error e{"cache.disk.path", "a\"b\\c\nd\x01", "is odd", "use another"};
  EXPECT_STREQ(e.what(), R"(cache.disk.path: "a\"b\\c\nd\x01" is odd; use another)");
  EXPECT_EQ(e.value(), "a\"b\\c\nd\x01");
}

TEST(config_error, key_error_has_no_value) {
  const config_error e{"cache.memroy", "unknown key; accepted keys: memory, disk"};
  EXPECT_STREQ(e.what(), "cache.memroy: unknown key; accepted keys: memory, disk");
  EXPECT_EQ(e.key_path(), "cache.memroy");
  EXPECT_EQ(e.value(), "");
}

}  // namespace
}  // namespace larder
