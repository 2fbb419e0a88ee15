// Durations as operators write them: a bare whole number of seconds (the seed writes
// `cleanup_interval: 3600  # seconds`) or a whole number with a unit: "90s", "5m", "1h", "1d".
//
// Cleanup intervals and ages are coarse, so durations are whole seconds; units ignore case and
// may be separated from the number by blanks. Failure is nullopt, so the caller can build an error
// that names the setting.
//
// Pure function: safe to call from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace larder {

// nullopt for empty text, garbage, fractions, an unknown unit, zero or negative durations, or a
// duration too long for std::chrono::seconds.
std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept;

}  // namespace larder
