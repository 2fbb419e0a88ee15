// Sizes as operators write them: "512MB", "4GiB", "1.5G", "30%", or a bare number of megabytes
// (the seed writes `size: 1000  # MB`).
//
// Units ignore case. Decimal units follow SI as Kubernetes does (K/KB = 10^3, M/MB = 10^6,
// G/GB = 10^9, T/TB = 10^12); binary units are Ki/KiB = 2^10 through Ti/TiB = 2^40; B is bytes.
// A decimal fraction is exact ("1.5G" is 1500000000 bytes, not a double's approximation); a
// fraction of a byte is dropped. Blanks may surround the number and separate it from the unit.
//
// parse_size only reads text: a percentage stays a share until the caller, who knows what it is a
// share of (available memory, a filesystem's capacity), resolves it. Failure is nullopt, so the
// caller can build an error that names the setting.
//
// Pure functions: safe to call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace larder {

struct size_spec {
  // 100% as a share; shares are kept in units of 10^-18 so that a percentage with a decimal
  // fraction ("12.5%") resolves exactly.
  static constexpr std::uint64_t whole_share = 1'000'000'000'000'000'000ull;

  // An absolute size: its byte count, > 0. Zero for a percentage.
  std::uint64_t bytes = 0;
  // A percentage: its share of the base in units of 1/whole_share, in (0, whole_share]. Zero for
  // an absolute size.
  std::uint64_t share = 0;

  bool is_percentage() const noexcept { return share != 0; }

  // The byte count: `bytes`, or the share of `base` rounded down (which may be 0 for a tiny base).
  std::uint64_t resolve(std::uint64_t base) const noexcept;

  bool operator==(const size_spec&) const = default;
};

// nullopt for empty text, garbage, an unknown unit, zero or negative sizes, a percentage outside
// (0, 100], or more bytes than a uint64 holds.
std::optional<size_spec> parse_size(std::string_view text) noexcept;

}  // namespace larder
