#include "larder/scheduler/scheduler.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "larder/runtime/runtime.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::pause;

// Suspends the calling coroutine until `open` is set: holds a pass open until the test lets it go.
asio::awaitable<void> wait_for(const std::atomic<bool>& open) {
  while (!open.load())
    co_await pause(1ms);
}

// A pass that stays open until released, and says whether it is in progress and has finished.
struct held_pass {
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};

  scheduler::task_function function() {
    return [this]() -> asio::awaitable<void> {
      started = true;
      co_await wait_for(release);
      finished = true;
    };
  }
};

class SchedulerTest : public ::testing::Test {
 protected:
  runtime rt_{{.threads = 2}};
};

TEST_F(SchedulerTest, FiresRepeatedly) {
  std::atomic<int> calls{0};
  scheduler s(rt_.executor(), {.seed = 1});
  const task_id id = s.schedule("tick", {.interval = 2ms}, [&]() -> asio::awaitable<void> {
    ++calls;
    co_return;
  });
  ASSERT_TRUE(eventually([&] { return s.stats(id).runs >= 5; }));
  s.stop();
  const task_stats stats = s.stats(id);
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_EQ(stats.last_error, "");
  EXPECT_EQ(stats.runs, static_cast<std::uint64_t>(calls.load()));
}

TEST_F(SchedulerTest, NeverOverlapsItself) {
  std::atomic<int> active{0};
  std::atomic<int> most_active{0};
  std::atomic<int> passes{0};
  scheduler s(rt_.executor(), {.seed = 2});
  // Each pass suspends for ten intervals: a scheduler that fired on the clock would start others.
  const task_id id =
      s.schedule("slow", {.interval = 1ms, .jitter = 0.5}, [&]() -> asio::awaitable<void> {
        const int now = ++active;
        int seen = most_active.load();
        while (now > seen && !most_active.compare_exchange_weak(seen, now)) {
        }
        co_await pause(10ms);
        --active;
        ++passes;
      });
  // Requests for a pass now must not start one beside the running one either.
  ASSERT_TRUE(eventually([&] {
    s.run_now(id);
    return passes.load() >= 5;
  }));
  s.stop();
  EXPECT_EQ(most_active.load(), 1);
  EXPECT_EQ(active.load(), 0);
}

TEST_F(SchedulerTest, AThrowingTaskKeepsRunningAndCountsItsFailures) {
  std::atomic<int> calls{0};
  scheduler s(rt_.executor(), {.seed = 3});
  // Odd passes throw, even passes succeed.
  const task_id id = s.schedule("flaky", {.interval = 1ms}, [&]() -> asio::awaitable<void> {
    const int n = ++calls;
    if (n % 2 == 1) throw std::runtime_error("boom " + std::to_string(n));
    co_return;
  });
  ASSERT_TRUE(eventually([&] { return s.stats(id).runs >= 6; }));
  s.stop();
  const task_stats stats = s.stats(id);
  EXPECT_EQ(stats.runs, static_cast<std::uint64_t>(calls.load()));
  EXPECT_EQ(stats.failures, (stats.runs + 1) / 2);
  EXPECT_EQ(stats.last_error, "boom " + std::to_string(2 * stats.failures - 1));
}

TEST_F(SchedulerTest, AnExceptionOfAnyTypeCountsAsAFailure) {
  scheduler s(rt_.executor(), {.seed = 4});
  const task_id id = s.schedule("odd", {.interval = 1ms}, []() -> asio::awaitable<void> {
    throw 42;
    co_return;
  });
  ASSERT_TRUE(eventually([&] { return s.stats(id).failures >= 2; }));
  s.stop();
  EXPECT_EQ(s.stats(id).failures, s.stats(id).runs);
  EXPECT_EQ(s.stats(id).last_error, "an exception not derived from std::exception");
}

TEST_F(SchedulerTest, StopWaitsForAPassInProgress) {
  held_pass pass;
  scheduler s(rt_.executor(), {.seed = 5});
  const task_id id = s.schedule("held", {.interval = 1h}, pass.function());
  s.run_now(id);
  ASSERT_TRUE(eventually([&] { return pass.started.load(); }));

  std::atomic<bool> stop_returned{false};
  bool finished_when_stop_returned = false;
  std::thread stopper([&] {
    s.stop();
    finished_when_stop_returned = pass.finished.load();
    stop_returned = true;
  });
  // stop() cannot return while the pass is held; a later check would only miss a bug, never
  // report a false one.
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(stop_returned.load());
  pass.release = true;
  stopper.join();
  EXPECT_TRUE(finished_when_stop_returned);
  EXPECT_EQ(s.stats(id).runs, 1u);
}

TEST_F(SchedulerTest, AsyncStopWaitsForAPassInProgress) {
  held_pass pass;
  scheduler s(rt_.executor(), {.seed = 6});
  const task_id id = s.schedule("held", {.interval = 1h}, pass.function());
  s.run_now(id);
  ASSERT_TRUE(eventually([&] { return pass.started.load(); }));

  bool finished_when_stop_returned = false;
  std::thread stopper([&] {
    rt_.run(s.async_stop());
    finished_when_stop_returned = pass.finished.load();
  });
  pass.release = true;
  stopper.join();
  EXPECT_TRUE(finished_when_stop_returned);
  EXPECT_EQ(s.stats(id).runs, 1u);
}

TEST_F(SchedulerTest, NoPassRunsAfterStopReturns) {
  std::atomic<int> calls{0};
  std::atomic<bool> done{false};
  scheduler s(rt_.executor(), {.seed = 7});
  std::vector<task_id> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(
        s.schedule("busy " + std::to_string(i), {.interval = 1ms}, [&]() -> asio::awaitable<void> {
          ++calls;
          co_await pause(1ms);
        }));
  }
  // Requests keep arriving while the scheduler stops and after it has.
  std::thread requester([&] {
    while (!done.load()) {
      for (task_id id : ids)
        s.run_now(id);
      std::this_thread::yield();
    }
  });
  ASSERT_TRUE(eventually([&] { return calls.load() >= 10; }));
  s.stop();
  const int calls_at_stop = calls.load();
  std::uint64_t runs_at_stop = 0;
  for (task_id id : ids)
    runs_at_stop += s.stats(id).runs;
  std::this_thread::sleep_for(50ms);
  done = true;
  requester.join();
  EXPECT_EQ(calls.load(), calls_at_stop);
  EXPECT_EQ(runs_at_stop, static_cast<std::uint64_t>(calls_at_stop));
}

TEST_F(SchedulerTest, StopWithOnlyWaitsPendingReturnsPromptly) {
  std::atomic<int> calls{0};
  scheduler s(rt_.executor(), {.seed = 8});
  std::vector<task_id> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(s.schedule("hourly " + std::to_string(i), {.interval = 1h, .jitter = 0.1},
                             [&]() -> asio::awaitable<void> {
                               ++calls;
                               co_return;
                             }));
  }
  const auto start = std::chrono::steady_clock::now();
  s.stop();
  // An hour's wait cancelled, not served: anything under a minute proves it.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);
  EXPECT_EQ(calls.load(), 0);
  for (task_id id : ids)
    EXPECT_EQ(s.stats(id).runs, 0u);
}

TEST_F(SchedulerTest, RunNowStartsAPassWithoutWaitingForTheInterval) {
  scheduler s(rt_.executor(), {.seed = 9});
  const task_id id =
      s.schedule("hourly", {.interval = 1h}, []() -> asio::awaitable<void> { co_return; });
  s.run_now(id);
  ASSERT_TRUE(eventually([&] { return s.stats(id).runs == 1; }));
  s.run_now(id);
  ASSERT_TRUE(eventually([&] { return s.stats(id).runs == 2; }));
  s.stop();
  EXPECT_EQ(s.stats(id).runs, 2u);
}

TEST_F(SchedulerTest, RunNowDuringAPassIsCoalescedIntoOneMorePass) {
  std::atomic<int> calls{0};
  std::atomic<bool> first_started{false};
  std::atomic<bool> release{false};
  scheduler s(rt_.executor(), {.seed = 10});
  const task_id id = s.schedule("hourly", {.interval = 1h}, [&]() -> asio::awaitable<void> {
    if (++calls == 1) {
      first_started = true;
      co_await wait_for(release);
    }
  });
  s.run_now(id);
  ASSERT_TRUE(eventually([&] { return first_started.load(); }));
  for (int i = 0; i < 5; ++i)
    s.run_now(id);
  release = true;
  ASSERT_TRUE(eventually([&] { return s.stats(id).runs == 2; }));
  // Time for a wrong third pass to show up; waiting less could only miss a bug.
  std::this_thread::sleep_for(50ms);
  s.stop();
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(s.stats(id).runs, 2u);
}

// The first pass blocks its thread instead of suspending, so the wake-up that run_now() posts to
// the task's strand can only run after it. By then the second pass has served the request and the
// loop waits for the next interval: the late wake-up must not start a third pass.
TEST_F(SchedulerTest, AWakeUpForARequestAlreadyServedStartsNoPass) {
  std::atomic<int> calls{0};
  std::atomic<bool> first_started{false};
  std::atomic<bool> release{false};
  scheduler s(rt_.executor(), {.seed = 19});
  const task_id id = s.schedule("hourly", {.interval = 1h}, [&]() -> asio::awaitable<void> {
    if (++calls == 1) {
      first_started = true;
      while (!release.load())
        std::this_thread::sleep_for(1ms);
    }
    co_return;
  });
  s.run_now(id);
  ASSERT_TRUE(eventually([&] { return first_started.load(); }));
  s.run_now(id);
  release = true;
  ASSERT_TRUE(eventually([&] { return s.stats(id).runs == 2; }));
  std::this_thread::sleep_for(50ms);
  s.stop();
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(SchedulerTest, ASuspendedTaskDoesNotHoldBackTheOthers) {
  held_pass slow;
  std::atomic<int> fast_calls{0};
  scheduler s(rt_.executor(), {.seed = 11});
  const task_id slow_id = s.schedule("slow", {.interval = 1h}, slow.function());
  const task_id fast_id = s.schedule("fast", {.interval = 1ms}, [&]() -> asio::awaitable<void> {
    ++fast_calls;
    co_return;
  });
  s.run_now(slow_id);
  ASSERT_TRUE(eventually([&] { return slow.started.load(); }));
  ASSERT_TRUE(eventually([&] { return s.stats(fast_id).runs >= 5; }));
  EXPECT_FALSE(slow.finished.load());
  EXPECT_EQ(s.stats(slow_id).runs, 0u);
  slow.release = true;
  s.stop();
  EXPECT_EQ(s.stats(slow_id).runs, 1u);
}

TEST_F(SchedulerTest, ConcurrentStopCallersAllReturnAfterThePassFinishes) {
  held_pass pass;
  scheduler s(rt_.executor(), {.seed = 12});
  const task_id id = s.schedule("held", {.interval = 1h}, pass.function());
  s.run_now(id);
  ASSERT_TRUE(eventually([&] { return pass.started.load(); }));

  std::vector<char> finished_when_returned(3, 0);
  std::vector<std::thread> stoppers;
  stoppers.emplace_back([&] {
    s.stop();
    finished_when_returned[0] = pass.finished.load();
  });
  stoppers.emplace_back([&] {
    s.stop();
    finished_when_returned[1] = pass.finished.load();
  });
  stoppers.emplace_back([&] {
    rt_.run(s.async_stop());
    finished_when_returned[2] = pass.finished.load();
  });
  pass.release = true;
  for (auto& t : stoppers)
    t.join();
  EXPECT_EQ(finished_when_returned, std::vector<char>(3, 1));
  s.stop();
  rt_.run(s.async_stop());
}

TEST_F(SchedulerTest, StoppingFromInsideATaskThrowsInsteadOfWaitingForItself) {
  std::atomic<int> refused{0};
  std::unique_ptr<scheduler> s = std::make_unique<scheduler>(rt_.executor(), scheduler_options{});
  const task_id id = s->schedule("self", {.interval = 1h}, [&]() -> asio::awaitable<void> {
    try {
      s->stop();
    } catch (const std::logic_error&) {
      ++refused;
    }
    try {
      co_await s->async_stop();
    } catch (const std::logic_error&) {
      ++refused;
    }
  });
  s->run_now(id);
  ASSERT_TRUE(eventually([&] { return s->stats(id).runs == 1; }));
  EXPECT_EQ(refused.load(), 2);
  // The refusals left the scheduler running.
  s->run_now(id);
  ASSERT_TRUE(eventually([&] { return s->stats(id).runs == 2; }));
  s.reset();
}

TEST_F(SchedulerTest, StopReleasesTheTaskFunctions) {
  auto token = std::make_shared<int>(0);
  scheduler s(rt_.executor(), {.seed = 13});
  const task_id id = s.schedule("holder", {.interval = 1ms}, [token]() -> asio::awaitable<void> {
    ++*token;
    co_return;
  });
  ASSERT_TRUE(eventually([&] { return s.stats(id).runs >= 2; }));
  s.stop();
  EXPECT_EQ(token.use_count(), 1);
}

TEST_F(SchedulerTest, DestroyingWithoutStopWaitsForThePassInProgress) {
  held_pass pass;
  std::atomic<int> fast_calls{0};
  auto s = std::make_unique<scheduler>(rt_.executor(), scheduler_options{.seed = 14});
  s->run_now(s->schedule("held", {.interval = 1h}, pass.function()));
  s->schedule("fast", {.interval = 1ms}, [&]() -> asio::awaitable<void> {
    ++fast_calls;
    co_await pause(1ms);
  });
  ASSERT_TRUE(eventually([&] { return pass.started.load() && fast_calls.load() >= 3; }));

  bool finished_when_destroyed = false;
  std::thread destroyer([&] {
    s.reset();
    finished_when_destroyed = pass.finished.load();
  });
  pass.release = true;
  destroyer.join();
  EXPECT_TRUE(finished_when_destroyed);
  const int calls_at_destruction = fast_calls.load();
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(fast_calls.load(), calls_at_destruction);
}

TEST_F(SchedulerTest, DestroyingRightAfterSchedulingIsSafe) {
  std::atomic<int> calls{0};
  for (int round = 0; round < 100; ++round) {
    scheduler s(rt_.executor(), {.seed = static_cast<std::uint64_t>(round)});
    for (int i = 0; i < 3; ++i) {
      const task_id id = s.schedule("short-lived", {.interval = 1ms, .jitter = 1.0},
                                    [&]() -> asio::awaitable<void> {
                                      ++calls;
                                      co_return;
                                    });
      if (i == 0) s.run_now(id);
    }
  }
  const int calls_after = calls.load();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), calls_after);
}

TEST_F(SchedulerTest, ScheduleRejectsBadOptions) {
  scheduler s(rt_.executor(), {.seed = 15});
  auto nothing = []() -> asio::awaitable<void> { co_return; };
  EXPECT_THROW(s.schedule("no function", {.interval = 1s}, nullptr), std::invalid_argument);
  EXPECT_THROW(s.schedule("zero", {.interval = 0s}, nothing), std::invalid_argument);
  EXPECT_THROW(s.schedule("negative", {.interval = -1s}, nothing), std::invalid_argument);
  EXPECT_THROW(s.schedule("too jittery", {.interval = 1s, .jitter = 1.5}, nothing),
               std::invalid_argument);
  try {
    s.schedule("cleanup", {.interval = 1s, .jitter = -0.5}, nothing);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'cleanup'"), std::string::npos) << message;
    EXPECT_NE(message.find("-0.5"), std::string::npos) << message;
  }
  // A refused task takes no id: the next one gets the first.
  EXPECT_EQ(s.schedule("fine", {.interval = 1h}, nothing), task_id{0});
}

TEST_F(SchedulerTest, ScheduleAfterStopThrows) {
  scheduler s(rt_.executor(), {.seed = 16});
  s.stop();
  EXPECT_THROW(s.schedule("late", {.interval = 1s}, []() -> asio::awaitable<void> { co_return; }),
               std::logic_error);
}

TEST_F(SchedulerTest, UnknownIdsAreRefused) {
  scheduler s(rt_.executor(), {.seed = 17});
  EXPECT_THROW(s.run_now(task_id{0}), std::out_of_range);
  EXPECT_THROW(s.stats(task_id{0}), std::out_of_range);
  const task_id id =
      s.schedule("one", {.interval = 1h}, []() -> asio::awaitable<void> { co_return; });
  EXPECT_NO_THROW(s.stats(id));
  EXPECT_THROW(s.stats(task_id{1}), std::out_of_range);
}

TEST_F(SchedulerTest, RunNowAfterStopDoesNothing) {
  std::atomic<int> calls{0};
  scheduler s(rt_.executor(), {.seed = 18});
  const task_id id = s.schedule("hourly", {.interval = 1h}, [&]() -> asio::awaitable<void> {
    ++calls;
    co_return;
  });
  s.stop();
  s.run_now(id);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace larder
