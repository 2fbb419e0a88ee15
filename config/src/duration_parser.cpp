#include <array>
#include <cstdint>
#include <limits>

#include <larder/config/duration_parser.hpp>

#include "ascii_text.hpp"
#include "decimal_number.hpp"

namespace larder {
namespace {

struct duration_unit {
  std::string_view name;
  std::uint64_t seconds;
};

constexpr std::array<duration_unit, 4> duration_units{{
    {"s", 1},
    {"m", 60},
    {"h", 60 * 60},
    {"d", 24 * 60 * 60},
}};

std::optional<std::uint64_t> unit_seconds(std::string_view unit) noexcept {
  if (unit.empty()) return 1;
  for (const duration_unit& u : duration_units) {
    if (equals_ignoring_case(unit, u.name)) return u.seconds;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept {
  text = trim_blanks(text);
  const std::optional<std::uint64_t> count = read_whole_number(text);
  if (!count || *count == 0) return std::nullopt;
  const std::optional<std::uint64_t> unit = unit_seconds(trim_blanks(text));
  if (!unit) return std::nullopt;
  std::uint64_t seconds = 0;
  constexpr auto longest = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (__builtin_mul_overflow(*count, *unit, &seconds) || seconds > longest) return std::nullopt;
  return std::chrono::seconds{static_cast<std::int64_t>(seconds)};
}

}  // namespace larder
