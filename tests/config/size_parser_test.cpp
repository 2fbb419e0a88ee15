#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include <larder/config/size_parser.hpp>

namespace larder {
namespace {

constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();

struct size_case {
  std::string text;
  std::uint64_t bytes;
};

class absolute_size : public ::testing::TestWithParam<size_case> {};

TEST_P(absolute_size, parses_to_exact_byte_count) {
  const std::optional<size_spec> size = parse_size(GetParam().text);
  ASSERT_TRUE(size.has_value()) << GetParam().text;
  EXPECT_FALSE(size->is_percentage());
  EXPECT_EQ(size->bytes, GetParam().bytes);
  EXPECT_EQ(size->resolve(12345), GetParam().bytes) << "an absolute size ignores the base";
}

INSTANTIATE_TEST_SUITE_P(
    units, absolute_size,
    ::testing::Values(size_case{"1000", 1'000'000'000},  // bare numbers are MB, as in the seed
                      size_case{"0.5", 500'000}, size_case{"512MiB", 536'870'912},
                      size_case{"1.5G", 1'500'000'000}, size_case{"4GB", 4'000'000'000},
                      size_case{"100B", 100}, size_case{"1k", 1000}, size_case{"1KB", 1000},
                      size_case{"1Ki", 1024}, size_case{"1kib", 1024}, size_case{"2M", 2'000'000},
                      size_case{"2 MiB", 2'097'152}, size_case{"1gb", 1'000'000'000},
                      size_case{"1GiB", 1'073'741'824}, size_case{"1T", 1'000'000'000'000},
                      size_case{"1TiB", 1'099'511'627'776}, size_case{"  7GiB  ", 7'516'192'768},
                      // 2.01 * 1e9 in doubles is 2009999999.9999998; the parser is exact.
                      size_case{"2.01G", 2'010'000'000}, size_case{"0.1GiB", 107'374'182},
                      size_case{"1.5B", 1}, size_case{"18446744073709551615B", max_u64},
                      size_case{"16777215.9TiB", 18'446'743'963'758'388'838ull}));

class malformed_size : public ::testing::TestWithParam<std::string> {};

TEST_P(malformed_size, is_rejected) {
  EXPECT_EQ(parse_size(GetParam()), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(rejects, malformed_size,
                         ::testing::Values("", "   ", "0", "0MB", "0.0G", "0%", "-1", "-1GB", "+5",
                                           "4XB", "GB", "1.", ".5", "1e3", "nan", "NaN", "inf",
                                           "1,5G", "1 2", "%", "1GBB", "1 G B", "101%", "100.1%",
                                           "-5%", "0.4B", "18446744073709551616B",
                                           "18446744073709551615KB", "20000000TB", "16777216TiB",
                                           "99999999999999999999999"));

TEST(percentage_size, resolves_as_share_of_base) {
  const std::optional<size_spec> thirty = parse_size("30%");
  ASSERT_TRUE(thirty.has_value());
  EXPECT_TRUE(thirty->is_percentage());
  EXPECT_EQ(thirty->resolve(1000), 300u);
  EXPECT_EQ(thirty->resolve(8'000'000'000), 2'400'000'000u);
}

TEST(percentage_size, decimal_percentages_are_exact) {
  EXPECT_EQ(parse_size("12.5%")->resolve(800), 100u);
  EXPECT_EQ(parse_size("0.5 %")->resolve(1000), 5u);
  EXPECT_EQ(parse_size("33.3%")->resolve(1000), 333u);
}

TEST(percentage_size, whole_and_half_of_the_largest_base_do_not_overflow) {
  EXPECT_EQ(parse_size("100%")->resolve(max_u64), max_u64);
  EXPECT_EQ(parse_size("50%")->resolve(max_u64), max_u64 / 2);
}

TEST(percentage_size, rounds_down_and_can_resolve_to_zero) {
  EXPECT_EQ(parse_size("1%")->resolve(99), 0u);
}

}  // namespace
}  // namespace larder
