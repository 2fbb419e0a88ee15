#include "larder/runtime/when_all.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "larder/runtime/runtime.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

asio::awaitable<int> after(std::chrono::milliseconds delay, int value) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  co_return value;
}

// Arrives, then waits (bounded) until `expected` tasks have arrived: only possible if the tasks
// run concurrently.
asio::awaitable<int> rendezvous(std::atomic<int>& arrived, int expected) {
  ++arrived;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 5000 && arrived.load() < expected; ++i) {
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return arrived.load();
}

TEST(WhenAll, ResultsComeInInputOrderNotCompletionOrder) {
  runtime rt({.threads = 2});
  auto results = rt.run([]() -> asio::awaitable<std::vector<int>> {
    std::vector<asio::awaitable<int>> tasks;
    tasks.push_back(after(30ms, 1));
    tasks.push_back(after(10ms, 2));
    tasks.push_back(after(0ms, 3));
    co_return co_await when_all(std::move(tasks));
  }());
  EXPECT_EQ(results, (std::vector<int>{1, 2, 3}));
}

TEST(WhenAll, TasksRunConcurrently) {
  runtime rt({.threads = 1});
  std::atomic<int> arrived{0};
  auto results = rt.run([&]() -> asio::awaitable<std::vector<int>> {
    std::vector<asio::awaitable<int>> tasks;
    for (int i = 0; i < 5; ++i)
      tasks.push_back(rendezvous(arrived, 5));
    co_return co_await when_all(std::move(tasks));
  }());
  EXPECT_EQ(results, (std::vector<int>(5, 5)));
}

TEST(WhenAll, AnExceptionIsRethrownAfterEveryTaskFinished) {
  runtime rt({.threads = 2});
  std::atomic<int> finished{0};
  auto slow = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
    co_await timer.async_wait(asio::use_awaitable);
    ++finished;
  };
  auto failing = []() -> asio::awaitable<void> {
    throw std::runtime_error("task failed");
    co_return;
  };
  EXPECT_THROW(rt.run([&]() -> asio::awaitable<void> {
    std::vector<asio::awaitable<void>> tasks;
    tasks.push_back(slow());
    tasks.push_back(failing());
    tasks.push_back(slow());
    co_await when_all(std::move(tasks));
  }()),
               std::runtime_error);
  EXPECT_EQ(finished, 2);
}

TEST(WhenAll, CancellingTheAwaiterCancelsEveryTask) {
  runtime rt({.threads = 2, .stop_grace = 30s});
  std::atomic<int> cancelled{0};
  std::promise<void> waiting;
  auto sleeper = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::hours(1));
    try {
      co_await timer.async_wait(asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) ++cancelled;
    }
  };
  rt.spawn([&]() -> asio::awaitable<void> {
    std::vector<asio::awaitable<void>> tasks;
    for (int i = 0; i < 3; ++i)
      tasks.push_back(sleeper());
    waiting.set_value();
    co_await when_all(std::move(tasks));
  });
  waiting.get_future().wait();
  std::this_thread::sleep_for(20ms);  // let the sleepers reach their timers
  const auto before = std::chrono::steady_clock::now();
  rt.stop();  // cancels the spawned task, which must cancel its three sleepers
  EXPECT_LT(std::chrono::steady_clock::now() - before, 30s);
  EXPECT_EQ(cancelled, 3);
}

TEST(WhenAll, NoTasksCompleteAtOnce) {
  runtime rt({.threads = 1});
  auto results = rt.run(when_all(std::vector<asio::awaitable<int>>{}));
  EXPECT_TRUE(results.empty());
  rt.run(when_all(std::vector<asio::awaitable<void>>{}));
}

}  // namespace
}  // namespace larder
