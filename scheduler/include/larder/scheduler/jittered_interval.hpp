// jittered_interval: the waits between the runs of a periodic task, spread uniformly around a
// nominal interval, so that processes started together (every rank of a training job) do not all
// run their cleanup at the same instant.
//
// jittered_delay() is the rule, a pure function. jittered_interval draws its samples from a
// std::mt19937_64 it seeds itself, so one seed always gives the same delays, on every platform:
// the sample is built from the engine's bits, not by std::uniform_real_distribution, whose output
// the standard leaves to each library.
//
// Thread safety: jittered_delay() may be called from any thread. A jittered_interval holds the
// engine's state: distinct objects may be used concurrently, a shared one may not.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace larder {

// interval scaled by 1 + jitter * (2 * sample - 1): sample 0 gives interval * (1 - jitter), 0.5 the
// interval itself, and samples towards 1 approach interval * (1 + jitter). Rounded to the nearest
// nanosecond and saturated at nanoseconds::max(); jitter 0 returns interval exactly.
// REQUIRES: interval > 0, 0 <= jitter <= 1, 0 <= sample < 1.
std::chrono::nanoseconds jittered_delay(std::chrono::nanoseconds interval, double jitter,
                                        double sample) noexcept;

class jittered_interval {
 public:
  // Throws std::invalid_argument, naming the bad value, unless interval > 0 and 0 <= jitter <= 1.
  jittered_interval(std::chrono::nanoseconds interval, double jitter, std::uint64_t seed);

  // The next delay: jittered_delay() of a fresh sample, uniform in [0, 1).
  std::chrono::nanoseconds next();

  std::chrono::nanoseconds interval() const noexcept { return interval_; }
  double jitter() const noexcept { return jitter_; }

 private:
  std::chrono::nanoseconds interval_;
  double jitter_;
  std::mt19937_64 engine_;
};

}  // namespace larder
