#include "larder/runtime/runtime.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

namespace larder {
namespace {

using namespace std::chrono_literals;

asio::awaitable<int> answer() {
  co_return 42;
}

asio::awaitable<void> nothing() {
  co_return;
}

asio::awaitable<int> fail() {
  throw std::runtime_error("boom");
  co_return 0;
}

TEST(Runtime, RunReturnsTheTaskResult) {
  runtime rt({.threads = 2});
  EXPECT_EQ(rt.run(answer()), 42);
  EXPECT_EQ(rt.thread_count(), 2u);
}

TEST(Runtime, RunRethrowsTheTaskException) {
  runtime rt({.threads = 1});
  EXPECT_THROW(rt.run(fail()), std::runtime_error);
  // The runtime is still usable afterwards.
  EXPECT_EQ(rt.run(answer()), 42);
}

TEST(Runtime, DefaultsToOneThreadPerHardwareThread) {
  runtime rt;
  EXPECT_EQ(rt.thread_count(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(Runtime, SpawnedTasksRunOnTheWorkerThreads) {
  runtime rt({.threads = 2});
  std::mutex mu;
  std::set<std::thread::id> seen;
  std::promise<void> all_done;
  std::atomic<int> remaining{16};
  for (int i = 0; i < 16; ++i) {
    rt.spawn([&]() -> asio::awaitable<void> {
      {
        std::lock_guard lock(mu);
        seen.insert(std::this_thread::get_id());
      }
      if (remaining.fetch_sub(1) == 1) all_done.set_value();
      co_return;
    });
  }
  all_done.get_future().wait();
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.count(std::this_thread::get_id()), 0u);
  EXPECT_GE(seen.size(), 1u);
}

TEST(Runtime, StopCancelsAWaitingTaskAndJoins) {
  runtime rt({.threads = 2, .stop_grace = 10s});
  std::promise<void> started;
  std::atomic<bool> cancelled{false};
  rt.spawn([&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::hours(1));
    started.set_value();
    try {
      co_await timer.async_wait(asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
      cancelled = e.code() == asio::error::operation_aborted;
    }
  });
  started.get_future().wait();
  const auto before = std::chrono::steady_clock::now();
  rt.stop();
  // Well under the hour the timer asked for, and under the grace period: the task was cancelled,
  // not waited out.
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
  EXPECT_TRUE(cancelled);
}

// A task that swallows its cancellation is abandoned after the grace period, and the thread that
// waits for it in run() gets an error instead of waiting forever.
TEST(Runtime, StopAbandonsATaskThatIgnoresCancellation) {
  runtime rt({.threads = 1, .stop_grace = 100ms});
  std::promise<void> started;
  auto stubborn = [&]() -> asio::awaitable<void> {
    // Without this, every co_await after the cancellation would throw at once.
    co_await asio::this_coro::throw_if_cancelled(false);
    started.set_value();
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (true) {
      timer.expires_after(5ms);
      try {
        co_await timer.async_wait(asio::use_awaitable);
      } catch (const boost::system::system_error&) {
      }
    }
  };
  std::promise<std::string> outcome;
  std::thread caller([&] {
    try {
      rt.run(stubborn());
      outcome.set_value("returned");
    } catch (const std::runtime_error& e) {
      outcome.set_value(e.what());
    }
  });
  started.get_future().wait();
  rt.stop();
  caller.join();
  EXPECT_EQ(outcome.get_future().get(), "larder::runtime stopped before the task finished");
}

TEST(Runtime, ConcurrentStopsAllReturnAfterTheWork) {
  runtime rt({.threads = 2});
  std::thread other([&] { rt.stop(); });
  rt.stop();
  other.join();
  EXPECT_THROW(rt.spawn(nothing()), std::logic_error);
}

TEST(Runtime, SpawnAfterStopIsRefused) {
  runtime rt({.threads = 1});
  rt.stop();
  rt.stop();  // idempotent
  EXPECT_THROW(rt.spawn(nothing()), std::logic_error);
}

TEST(Runtime, RunFromAWorkerThreadIsRefused) {
  runtime rt({.threads = 1});
  std::promise<bool> refused;
  rt.spawn([&]() -> asio::awaitable<void> {
    try {
      rt.run(answer());
      refused.set_value(false);
    } catch (const std::logic_error&) {
      refused.set_value(true);
    }
    co_return;
  });
  EXPECT_TRUE(refused.get_future().get());
}

TEST(Runtime, AnExceptionInASpawnedTaskDoesNotStopTheRuntime) {
  runtime rt({.threads = 1});
  rt.spawn([]() -> asio::awaitable<void> {
    throw std::runtime_error("background failure");
    co_return;
  });
  EXPECT_EQ(rt.run(answer()), 42);
}

}  // namespace
}  // namespace larder
