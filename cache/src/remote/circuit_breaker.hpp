// circuit_breaker: stops the remote tier from asking a server that keeps failing.
//
// 1. States. closed: requests go, and consecutive failures are counted. After
//    failure_threshold of them in a row it opens: for open_for, allow() says no and the remote
//    tier answers a miss without touching the network. Then it is half-open: the next allow()
//    lets one probe request through (the others still get no); the probe's success closes the
//    breaker, its failure opens it for another open_for.
// 2. Why. A request to a dead or overloaded server costs its whole deadline; a training loop that
//    misses locally would pay that on every sample. With the breaker open it pays nothing, and
//    one probe per open_for finds out when the server is back.
// 3. Transitions are returned to the caller so that it can log them once, where they happen.
//
// Thread safety: every member may be called from any thread at once (one mutex; the remote path
// already pays a network round trip).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace larder::remote {

struct circuit_breaker_options {
  std::uint32_t failure_threshold = 5;
  std::chrono::milliseconds open_for{5000};
};

class circuit_breaker {
 public:
  using clock = std::chrono::steady_clock;
  enum class state { closed, open, half_open };
  enum class transition { none, opened, closed };

  explicit circuit_breaker(circuit_breaker_options options) : options_(options) {}

  // Whether a request may go at `now`. A true in the half-open state makes the caller the
  // probe: it must report record_success or record_failure.
  bool allow(clock::time_point now);
  transition record_success();
  transition record_failure(clock::time_point now);

  state current() const;
  // Times it opened, and requests it refused.
  std::uint64_t opened() const;
  std::uint64_t refused() const;

 private:
  circuit_breaker_options options_;
  mutable std::mutex mu_;
  // mu_ protects the fields below.
  state state_ = state::closed;
  std::uint32_t consecutive_failures_ = 0;
  clock::time_point open_until_{};
  bool probe_in_flight_ = false;
  std::uint64_t opened_ = 0;
  std::uint64_t refused_ = 0;
};

}  // namespace larder::remote
