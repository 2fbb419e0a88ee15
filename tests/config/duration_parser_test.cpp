#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <larder/config/duration_parser.hpp>

namespace larder {
namespace {

using std::chrono::milliseconds;
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

struct duration_ms_case {
  std::string text;
  milliseconds expected;
};

class valid_duration_ms : public ::testing::TestWithParam<duration_ms_case> {};

TEST_P(valid_duration_ms, parses_to_milliseconds) {
  EXPECT_EQ(parse_duration_ms(GetParam().text), GetParam().expected) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    units, valid_duration_ms,
    ::testing::Values(
        duration_ms_case{"100ms", milliseconds{100}}, duration_ms_case{"1ms", milliseconds{1}},
        duration_ms_case{"2", milliseconds{2000}},  // bare numbers are seconds
        duration_ms_case{"2s", milliseconds{2000}}, duration_ms_case{"1m", milliseconds{60'000}},
        duration_ms_case{"1h", milliseconds{3'600'000}},
        duration_ms_case{"1d", milliseconds{86'400'000}},
        duration_ms_case{" 250 MS ", milliseconds{250}},
        duration_ms_case{"9223372036854775807ms", milliseconds{9223372036854775807}}));

class malformed_duration_ms : public ::testing::TestWithParam<std::string> {};

TEST_P(malformed_duration_ms, is_rejected) {
  EXPECT_EQ(parse_duration_ms(GetParam()), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(rejects, malformed_duration_ms,
                         ::testing::Values("", "ms", "0", "0ms", "0s", "-5ms", "+5ms", "1.5s",
                                           "0.5", "10us", "1 ms 2", "mss", "9223372036854775808ms",
                                           "9223372036854775808", "106751991168d"));

}  // namespace
}  // namespace larder
