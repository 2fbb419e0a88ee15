#include <array>
#include <cstdint>
#include <limits>
#include <span>

#include <larder/config/duration_parser.hpp>

#include "ascii_text.hpp"
#include "decimal_number.hpp"

namespace larder {
namespace {

// A unit's length in ticks of the result's period.
struct duration_unit {
  std::string_view name;
  std::uint64_t ticks;
};

constexpr std::array<duration_unit, 4> second_units{{
    {"s", 1},
    {"m", 60},
    {"h", 60 * 60},
    {"d", 24 * 60 * 60},
}};

constexpr std::array<duration_unit, 5> millisecond_units{{
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
    {"d", 24 * 60 * 60 * 1000},
}};

// The duration in ticks: a whole number, then one of `units` or none (bare_ticks per count).
std::optional<std::int64_t> parse_ticks(std::string_view text, std::span<const duration_unit> units,
                                        std::uint64_t bare_ticks) noexcept {
  text = trim_blanks(text);
  const std::optional<std::uint64_t> count = read_whole_number(text);
  if (!count || *count == 0) return std::nullopt;
  const std::string_view unit = trim_blanks(text);
  std::optional<std::uint64_t> unit_ticks;
  if (unit.empty()) unit_ticks = bare_ticks;
  for (const duration_unit& u : units) {
    if (equals_ignoring_case(unit, u.name)) unit_ticks = u.ticks;
  }
  if (!unit_ticks) return std::nullopt;
  std::uint64_t ticks = 0;
  constexpr auto longest = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (__builtin_mul_overflow(*count, *unit_ticks, &ticks) || ticks > longest) return std::nullopt;
  return static_cast<std::int64_t>(ticks);
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept {
  const std::optional<std::int64_t> ticks = parse_ticks(text, second_units, 1);
  if (!ticks) return std::nullopt;
  return std::chrono::seconds{*ticks};
}

std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view text) noexcept {
  const std::optional<std::int64_t> ticks = parse_ticks(text, millisecond_units, 1000);
  if (!ticks) return std::nullopt;
  return std::chrono::milliseconds{*ticks};
}

}  // namespace larder
