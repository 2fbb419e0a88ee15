#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <larder/config/duration_parser.hpp>

namespace larder {
namespace {

using std::chrono::seconds;

struct duration_case {
  std::string text;
  seconds expected;
};

class valid_duration : public ::testing::TestWithParam<duration_case> {};

TEST_P(valid_duration, parses_to_seconds) {
  EXPECT_EQ(parse_duration(GetParam().text), GetParam().expected) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    units, valid_duration,
    ::testing::Values(duration_case{"3600", seconds{3600}},  // bare numbers are seconds
                      duration_case{"90s", seconds{90}}, duration_case{"5m", seconds{300}},
                      duration_case{"1h", seconds{3600}}, duration_case{"1d", seconds{86400}},
                      duration_case{"2 H", seconds{7200}}, duration_case{" 10 ", seconds{10}},
                      duration_case{"9223372036854775807", seconds{9223372036854775807}}));

class malformed_duration : public ::testing::TestWithParam<std::string> {};

TEST_P(malformed_duration, is_rejected) {
  EXPECT_EQ(parse_duration(GetParam()), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(rejects, malformed_duration,
                         ::testing::Values("", "s", "0", "0s", "-5", "+5", "1.5h", "5x", "1ms",
                                           "500ms", "1w", "forever", "1 h 30 m",
                                           "9223372036854775808", "99999999999999999999",
                                           "106751991167301d"));

}  // namespace
}  // namespace larder
