#include "remote/circuit_breaker.hpp"

namespace larder::remote {

bool circuit_breaker::allow(clock::time_point now) {
  std::lock_guard lock(mu_);
  switch (state_) {
    case state::closed:
      return true;
    case state::open:
      if (now < open_until_) break;
      state_ = state::half_open;
      [[fallthrough]];
    case state::half_open:
      if (probe_in_flight_) break;
      probe_in_flight_ = true;
      return true;
  }
  ++refused_;
  return false;
}

circuit_breaker::transition circuit_breaker::record_success() {
  std::lock_guard lock(mu_);
  consecutive_failures_ = 0;
  if (state_ == state::closed) return transition::none;
  // A request that started before the breaker opened may succeed late; it proves the server is
  // answering as well as a probe would.
  state_ = state::closed;
  probe_in_flight_ = false;
  return transition::closed;
}

circuit_breaker::transition circuit_breaker::record_failure(clock::time_point now) {
  std::lock_guard lock(mu_);
  switch (state_) {
    case state::closed:
      if (++consecutive_failures_ < options_.failure_threshold) return transition::none;
      break;
    case state::open:
      // A late failure of a request sent before the breaker opened: it is open already.
      return transition::none;
    case state::half_open:
      if (!probe_in_flight_) return transition::none;
      break;
  }
  state_ = state::open;
  open_until_ = now + options_.open_for;
  probe_in_flight_ = false;
  consecutive_failures_ = 0;
  ++opened_;
  return transition::opened;
}

circuit_breaker::state circuit_breaker::current() const {
  std::lock_guard lock(mu_);
  return state_;
}

std::uint64_t circuit_breaker::opened() const {
  std::lock_guard lock(mu_);
  return opened_;
}

std::uint64_t circuit_breaker::refused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

}  // namespace larder::remote
