#include "larder/scheduler/jittered_interval.hpp"

#include <cassert>
#include <cmath>
#include <stdexcept>

#include <spdlog/fmt/fmt.h>

namespace larder {

std::chrono::nanoseconds jittered_delay(std::chrono::nanoseconds interval, double jitter,
                                        double sample) noexcept {
  assert(interval.count() > 0);
  assert(jitter >= 0.0 && jitter <= 1.0);
  assert(sample >= 0.0 && sample < 1.0);
  if (jitter == 0.0) return interval;
  const double delay =
      static_cast<double>(interval.count()) * (1.0 + jitter * (2.0 * sample - 1.0));
  // nanoseconds::max() as a double rounds up to 2^63, which no longer fits: anything at or above it
  // saturates, anything below it converts exactly.
  constexpr auto longest = std::chrono::nanoseconds::max();
  if (delay >= static_cast<double>(longest.count())) return longest;
  if (delay <= 0.0) return std::chrono::nanoseconds::zero();
  return std::chrono::nanoseconds(std::llround(delay));
}

jittered_interval::jittered_interval(std::chrono::nanoseconds interval, double jitter,
                                     std::uint64_t seed)
    : interval_(interval), jitter_(jitter), engine_(seed) {
  if (interval.count() <= 0) {
    throw std::invalid_argument(
        fmt::format("interval must be positive, got {} ns", interval.count()));
  }
  // Written so that NaN fails too.
  if (!(jitter >= 0.0 && jitter <= 1.0)) {
    throw std::invalid_argument(fmt::format(
        "jitter must be a fraction in [0, 1] (0.1 spreads waits over ±10 %), got {}", jitter));
  }
}

std::chrono::nanoseconds jittered_interval::next() {
  // The top 53 bits of the engine's output, scaled to [0, 1): each multiple of 2^-53 in the range
  // is equally likely, and 1 itself never comes up.
  const double sample = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
  return jittered_delay(interval_, jitter_, sample);
}

}  // namespace larder
