#include <array>
#include <limits>

#include <larder/config/size_parser.hpp>

#include "ascii_text.hpp"
#include "decimal_number.hpp"

namespace larder {
namespace {

struct size_unit {
  std::string_view name;
  std::uint64_t bytes;
};

constexpr std::uint64_t kilo = 1000;
constexpr std::uint64_t kibi = 1024;

constexpr std::array<size_unit, 17> size_units{{
    {"b", 1},
    {"k", kilo},
    {"kb", kilo},
    {"m", kilo* kilo},
    {"mb", kilo* kilo},
    {"g", kilo* kilo* kilo},
    {"gb", kilo* kilo* kilo},
    {"t", kilo* kilo* kilo* kilo},
    {"tb", kilo* kilo* kilo* kilo},
    {"ki", kibi},
    {"kib", kibi},
    {"mi", kibi* kibi},
    {"mib", kibi* kibi},
    {"gi", kibi* kibi* kibi},
    {"gib", kibi* kibi* kibi},
    {"ti", kibi* kibi* kibi* kibi},
    {"tib", kibi* kibi* kibi* kibi},
}};

// The seed's sizes are megabytes when no unit is written.
constexpr std::uint64_t bare_number_unit = kilo * kilo;

std::optional<std::uint64_t> unit_bytes(std::string_view unit) noexcept {
  if (unit.empty()) return bare_number_unit;
  for (const size_unit& u : size_units) {
    if (equals_ignoring_case(unit, u.name)) return u.bytes;
  }
  return std::nullopt;
}

std::optional<size_spec> percentage(const decimal_number& percent) noexcept {
  constexpr std::uint64_t share_per_percent = size_spec::whole_share / 100;
  if (percent.whole > 100 || (percent.whole == 100 && percent.fraction != 0)) return std::nullopt;
  const std::uint64_t share =
      percent.whole * share_per_percent +
      static_cast<std::uint64_t>(wide_uint{percent.fraction} * share_per_percent / percent.scale);
  if (share == 0) return std::nullopt;
  return size_spec{.bytes = 0, .share = share};
}

std::optional<size_spec> absolute(const decimal_number& number, std::uint64_t unit) noexcept {
  const wide_uint bytes =
      wide_uint{number.whole} * unit + wide_uint{number.fraction} * unit / number.scale;
  if (bytes == 0 || bytes > std::numeric_limits<std::uint64_t>::max()) return std::nullopt;
  return size_spec{.bytes = static_cast<std::uint64_t>(bytes), .share = 0};
}

}  // namespace

std::uint64_t size_spec::resolve(std::uint64_t base) const noexcept {
  if (!is_percentage()) return bytes;
  return static_cast<std::uint64_t>(wide_uint{base} * share / whole_share);
}

std::optional<size_spec> parse_size(std::string_view text) noexcept {
  text = trim_blanks(text);
  const std::optional<decimal_number> number = read_decimal_number(text);
  if (!number) return std::nullopt;
  const std::string_view suffix = trim_blanks(text);
  if (suffix == "%") return percentage(*number);
  const std::optional<std::uint64_t> unit = unit_bytes(suffix);
  if (!unit) return std::nullopt;
  return absolute(*number, *unit);
}

}  // namespace larder
