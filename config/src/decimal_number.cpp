#include "decimal_number.hpp"

namespace larder {
namespace {

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// 10^18 is the largest power of ten below 2^64.
constexpr int max_fraction_digits = 18;

}  // namespace

std::optional<std::uint64_t> read_whole_number(std::string_view& text) noexcept {
  if (text.empty() || !is_digit(text.front())) return std::nullopt;
  std::uint64_t value = 0;
  while (!text.empty() && is_digit(text.front())) {
    if (__builtin_mul_overflow(value, 10u, &value) ||
        __builtin_add_overflow(value, static_cast<unsigned>(text.front() - '0'), &value)) {
      return std::nullopt;
    }
    text.remove_prefix(1);
  }
  return value;
}

std::optional<decimal_number> read_decimal_number(std::string_view& text) noexcept {
  decimal_number number;
  const std::optional<std::uint64_t> whole = read_whole_number(text);
  if (!whole) return std::nullopt;
  number.whole = *whole;
  if (text.empty() || text.front() != '.') return number;
  text.remove_prefix(1);
  if (text.empty() || !is_digit(text.front())) return std::nullopt;
  for (int digits = 0; !text.empty() && is_digit(text.front()); text.remove_prefix(1), ++digits) {
    if (digits < max_fraction_digits) {
      number.fraction = number.fraction * 10 + static_cast<std::uint64_t>(text.front() - '0');
      number.scale *= 10;
    }
  }
  return number;
}

}  // namespace larder
