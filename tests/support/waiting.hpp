// Waiting in tests. The machine is shared and noisy: tests wait for a condition with a generous
// bound instead of sleeping for a fixed time, and assert counts and order, never how long
// anything took.
#pragma once

#include <chrono>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "larder/runtime/asio.hpp"

namespace larder::testing {

// Polls `done` until it holds (true) or `limit` passes (false).
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Suspends the calling coroutine (it does not block its thread).
inline asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace larder::testing
