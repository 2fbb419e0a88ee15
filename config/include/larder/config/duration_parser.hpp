// Durations as operators write them: a bare whole number of seconds (the seed writes
// `cleanup_interval: 3600  # seconds`) or a whole number with a unit: "90s", "5m", "1h", "1d".
//
// Cleanup intervals and ages are coarse, so parse_duration reads whole seconds. Network timeouts
// are not (a Redis request waits 100 ms, not seconds), so parse_duration_ms also takes "ms"; a
// bare number is still seconds there, so that `timeout: 2` means the same as everywhere else in
// larder. Units ignore case and may be separated from the number by blanks. Failure is nullopt, so
// the caller can build an error that names the setting.
//
// Pure functions: safe to call from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace larder {

// nullopt for empty text, garbage, fractions, an unknown unit ("ms" included), zero or negative
// durations, or a duration too long for std::chrono::seconds.
std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept;

// The same forms plus milliseconds ("100ms"); nullopt for the same reasons, with the limit that
// of std::chrono::milliseconds.
std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view text) noexcept;

}  // namespace larder
