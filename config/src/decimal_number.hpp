// A non-negative decimal number read exactly, for sizes and percentages: "1.5G" must be
// 1500000000 bytes, and a double would make it depend on rounding.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace larder {

// 128 bits hold any 64-bit count times any unit or share without overflow.
__extension__ typedef unsigned __int128 wide_uint;

// whole + fraction / scale, with scale a power of ten and fraction < scale.
struct decimal_number {
  std::uint64_t whole = 0;
  std::uint64_t fraction = 0;
  std::uint64_t scale = 1;
};

// Reads `digits` or `digits.digits` from the front of `text` and removes it; nullopt (text
// unspecified) when text does not start that way or the whole part overflows. Fraction digits
// past the 18th are dropped: they are worth less than a byte even in TiB.
std::optional<decimal_number> read_decimal_number(std::string_view& text) noexcept;

// Reads a whole number from the front of `text` and removes it; nullopt when text does not start
// with a digit or the number overflows.
std::optional<std::uint64_t> read_whole_number(std::string_view& text) noexcept;

}  // namespace larder
