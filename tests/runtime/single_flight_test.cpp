#include "larder/runtime/single_flight.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "larder/runtime/runtime.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

// Polls until `open` is set: lets a test hold a flight open until its waiters have arrived.
asio::awaitable<void> wait_for(const std::atomic<bool>& open) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!open.load()) {
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

class SingleFlightTest : public ::testing::Test {
 protected:
  void wait_until_coalesced(std::size_t n) {
    for (int i = 0; i < 10000 && flights_.coalesced() < n; ++i)
      std::this_thread::sleep_for(1ms);
    ASSERT_EQ(flights_.coalesced(), n);
  }

  runtime rt_{{.threads = 2}};
  single_flight<std::string> flights_;
  std::atomic<bool> open_{false};
  std::atomic<int> calls_{0};
};

TEST_F(SingleFlightTest, ConcurrentCallersShareOneComputation) {
  constexpr int callers = 8;
  std::vector<std::future<std::string>> results;
  for (int i = 0; i < callers; ++i) {
    results.push_back(asio::co_spawn(asio::make_strand(rt_.executor()),
                                     flights_.run("k",
                                                  [&]() -> asio::awaitable<std::string> {
                                                    ++calls_;
                                                    co_await wait_for(open_);
                                                    co_return "value";
                                                  }),
                                     asio::use_future));
  }
  wait_until_coalesced(callers - 1);
  EXPECT_EQ(flights_.in_flight(), 1u);
  open_ = true;
  for (auto& r : results)
    EXPECT_EQ(r.get(), "value");
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(flights_.in_flight(), 0u);
}

TEST_F(SingleFlightTest, AnExceptionReachesEveryWaiter) {
  constexpr int callers = 4;
  std::vector<std::future<std::string>> results;
  for (int i = 0; i < callers; ++i) {
    results.push_back(asio::co_spawn(rt_.executor(),
                                     flights_.run("k",
                                                  [&]() -> asio::awaitable<std::string> {
                                                    ++calls_;
                                                    co_await wait_for(open_);
                                                    throw std::runtime_error("load failed");
                                                  }),
                                     asio::use_future));
  }
  wait_until_coalesced(callers - 1);
  open_ = true;
  for (auto& r : results)
    EXPECT_THROW(r.get(), std::runtime_error);
  EXPECT_EQ(calls_, 1);
}

TEST_F(SingleFlightTest, DistinctKeysFlyIndependently) {
  auto a = asio::co_spawn(rt_.executor(),
                          flights_.run("a",
                                       [&]() -> asio::awaitable<std::string> {
                                         ++calls_;
                                         co_await wait_for(open_);
                                         co_return "A";
                                       }),
                          asio::use_future);
  auto b = asio::co_spawn(rt_.executor(),
                          flights_.run("b",
                                       [&]() -> asio::awaitable<std::string> {
                                         ++calls_;
                                         co_return "B";
                                       }),
                          asio::use_future);
  EXPECT_EQ(b.get(), "B");  // not held up by the open flight of "a"
  open_ = true;
  EXPECT_EQ(a.get(), "A");
  EXPECT_EQ(calls_, 2);
}

TEST_F(SingleFlightTest, AFinishedFlightIsNotCached) {
  auto compute = [&]() -> asio::awaitable<std::string> { co_return std::to_string(++calls_); };
  EXPECT_EQ(rt_.run(flights_.run("k", compute)), "1");
  EXPECT_EQ(rt_.run(flights_.run("k", compute)), "2");
}

// On one thread, a waiter resumed inline would run inside the leader's completion, before the
// leader's next statement. Posting puts it after.
TEST(SingleFlight, WaitersResumeThroughTheirExecutorNotInline) {
  asio::io_context ctx;
  single_flight<int> flights;
  std::atomic<bool> open{false};
  std::vector<std::string> order;
  auto leader = [&]() -> asio::awaitable<void> {
    co_await flights.run("k", [&]() -> asio::awaitable<int> {
      co_await wait_for(open);
      co_return 7;
    });
    order.push_back("leader resumed");
  };
  auto waiter = [&]() -> asio::awaitable<void> {
    int v = co_await flights.run("k", []() -> asio::awaitable<int> { co_return -1; });
    order.push_back("waiter resumed with " + std::to_string(v));
  };
  asio::co_spawn(ctx, leader(), asio::detached);
  asio::co_spawn(ctx, waiter(), asio::detached);
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        open = true;
        co_return;
      },
      asio::detached);
  ctx.run();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], "leader resumed");
  EXPECT_EQ(order[1], "waiter resumed with 7");
}

TEST(SingleFlight, AWaiterResumesOnItsOwnStrand) {
  runtime rt({.threads = 2});
  single_flight<int> flights;
  std::atomic<bool> open{false};
  auto strand = asio::make_strand(rt.executor());
  auto leader = asio::co_spawn(rt.executor(),
                               flights.run("k",
                                           [&]() -> asio::awaitable<int> {
                                             co_await wait_for(open);
                                             co_return 1;
                                           }),
                               asio::use_future);
  auto waiter = asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<bool> {
        co_await flights.run("k", []() -> asio::awaitable<int> { co_return 2; });
        co_return strand.running_in_this_thread();
      },
      asio::use_future);
  for (int i = 0; i < 10000 && flights.coalesced() < 1; ++i)
    std::this_thread::sleep_for(1ms);
  open = true;
  EXPECT_EQ(leader.get(), 1);
  EXPECT_TRUE(waiter.get());
}

}  // namespace
}  // namespace larder
