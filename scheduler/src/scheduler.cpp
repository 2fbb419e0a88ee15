#include "larder/scheduler/scheduler.hpp"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/fmt/fmt.h>

#include <larder/runtime/detail/posted_completion.hpp>
#include <larder/runtime/log.hpp>
#include <larder/scheduler/jittered_interval.hpp>

#include "describe_exception.hpp"

namespace larder {
namespace detail {

struct scheduled_task {
  scheduled_task(const asio::any_io_executor& executor, std::string name,
                 scheduler::task_function fn, jittered_interval delays)
      : name(std::move(name)),
        strand(asio::make_strand(executor)),
        timer(strand),
        fn(std::move(fn)),
        delays(delays) {}

  const std::string name;
  const asio::strand<asio::any_io_executor> strand;

  // Set from any thread, then the loop is woken (design 2).
  std::atomic<bool> run_requested{false};
  std::atomic<bool> stop_requested{false};

  // Used on the strand only.
  asio::steady_timer timer;
  scheduler::task_function fn;  // empty once the loop has exited
  jittered_interval delays;

  task_stats stats;  // guarded by scheduler_state::mu
};

struct scheduler_state {
  scheduler_state(asio::any_io_executor executor, std::uint64_t seed)
      : executor(std::move(executor)), seed(seed) {}

  const asio::any_io_executor executor;
  const std::uint64_t seed;

  // mu protects the fields below and every task's stats.
  mutable std::mutex mu;
  std::condition_variable loops_exited;
  std::vector<std::shared_ptr<scheduled_task>> tasks;  // indexed by task_id
  std::size_t live_loops = 0;
  bool stopping = false;
  std::vector<std::function<void()>> stop_waiters;  // async_stop() callers, posted at the end

  const std::shared_ptr<scheduled_task>& find(task_id id) const {
    const auto index = static_cast<std::size_t>(id);
    if (index >= tasks.size()) {
      throw std::out_of_range(fmt::format("larder::scheduler: no task with id {}", index));
    }
    return tasks[index];
  }

  // True inside a pass of one of these tasks, where waiting for the tasks would wait for itself.
  bool on_task_strand() const {
    for (const auto& task : tasks) {
      if (task->strand.running_in_this_thread()) return true;
    }
    return false;
  }
};

namespace {

// Each task gets its own engine, so its delays depend on the seed and its id only, not on how the
// other tasks interleave. splitmix64's finaliser: nearby (seed, id) pairs give unrelated seeds.
std::uint64_t task_seed(std::uint64_t seed, task_id id) {
  std::uint64_t z = seed + (static_cast<std::uint64_t>(id) + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t random_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

// Interrupts the task's wait, so that its loop looks at its flags.
void wake(const std::shared_ptr<scheduled_task>& task) {
  asio::post(task->strand, [task] { task->timer.cancel(); });
}

void record_pass(scheduler_state& state, scheduled_task& task, const std::exception_ptr& error) {
  const std::string message = error ? describe(error) : std::string();
  {
    std::lock_guard lock(state.mu);
    ++task.stats.runs;
    if (error) {
      ++task.stats.failures;
      task.stats.last_error = message;
    }
  }
  if (error) log().error("scheduler: task '{}' failed: {}", task.name, message);
}

// Returns once the task's deadline has passed, or earlier when a request is waiting.
asio::awaitable<void> wait_for_next_pass(scheduled_task& task) {
  task.timer.expires_after(task.delays.next());
  while (true) {
    boost::system::error_code ec;
    co_await task.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec || task.stop_requested.load() || task.run_requested.load()) co_return;
  }
}

asio::awaitable<void> run_pass(scheduler_state& state, scheduled_task& task) {
  std::exception_ptr error;
  try {
    co_await task.fn();
  } catch (...) {
    error = std::current_exception();
  }
  record_pass(state, task, error);
}

// Counts a loop out, however its coroutine ends: returning, throwing, or destroyed unfinished
// with its execution context.
struct loop_exit {
  scheduler_state& state;
  scheduled_task& task;

  ~loop_exit() {
    // Before stop() can return: a closure's captures must not outlive the wait for the tasks.
    task.fn = nullptr;
    std::vector<std::function<void()>> waiters;
    {
      std::lock_guard lock(state.mu);
      if (--state.live_loops == 0) {
        waiters.swap(state.stop_waiters);
        state.loops_exited.notify_all();
      }
    }
    for (const auto& waiter : waiters)
      waiter();
  }
};

asio::awaitable<void> run_task(std::shared_ptr<scheduler_state> state,
                               std::shared_ptr<scheduled_task> task) {
  const loop_exit counted_out{*state, *task};
  while (!task->stop_requested.load()) {
    if (!task->run_requested.load()) {
      co_await wait_for_next_pass(*task);
      if (task->stop_requested.load()) break;
    }
    // Cleared before the pass: a request made during it is one more pass.
    task->run_requested.store(false);
    co_await run_pass(*state, *task);
  }
}

// Marks the scheduler stopping and wakes every task; the first call does the work.
void request_stop(scheduler_state& state) {
  std::vector<std::shared_ptr<scheduled_task>> tasks;
  {
    std::lock_guard lock(state.mu);
    if (state.on_task_strand()) {
      throw std::logic_error(
          "larder::scheduler: stopping from inside one of its own tasks would wait for itself");
    }
    if (state.stopping) return;
    state.stopping = true;
    tasks = state.tasks;
  }
  for (const auto& task : tasks) {
    task->stop_requested.store(true);
    wake(task);
  }
}

asio::awaitable<void> stop_and_wait(std::shared_ptr<scheduler_state> state) {
  request_stop(*state);
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(
      [&state](auto handler) {
        auto done = posted_completion<>(std::move(handler));
        std::unique_lock lock(state->mu);
        if (state->live_loops != 0) {
          state->stop_waiters.push_back(std::move(done));
          return;
        }
        lock.unlock();
        done();
      },
      asio::use_awaitable);
}

}  // namespace
}  // namespace detail

scheduler::scheduler(asio::any_io_executor executor, scheduler_options options)
    : state_(std::make_shared<detail::scheduler_state>(
          std::move(executor), options.seed ? *options.seed : detail::random_seed())) {}

scheduler::~scheduler() {
  stop();
}

task_id scheduler::schedule(std::string name, task_options options, task_function fn) {
  if (!fn) {
    throw std::invalid_argument(fmt::format("larder::scheduler: task '{}' has no function", name));
  }
  std::lock_guard lock(state_->mu);
  if (state_->stopping) {
    throw std::logic_error(
        fmt::format("larder::scheduler: cannot schedule task '{}' after stop()", name));
  }
  const auto id = static_cast<task_id>(state_->tasks.size());
  std::optional<jittered_interval> delays;
  try {
    delays.emplace(options.interval, options.jitter, detail::task_seed(state_->seed, id));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("larder::scheduler: task '{}': {}", name, e.what()));
  }
  auto task = std::make_shared<detail::scheduled_task>(state_->executor, std::move(name),
                                                       std::move(fn), *delays);
  state_->tasks.push_back(task);
  ++state_->live_loops;
  // Under the lock, so that a failure can be undone exactly. co_spawn only posts the loop's start
  // to the task's new strand; nothing of the loop runs here.
  try {
    asio::co_spawn(task->strand, detail::run_task(state_, task),
                   [name = task->name](std::exception_ptr error) {
                     // run_pass() catches what the task throws; this is the loop itself failing.
                     if (error) {
                       log().critical("scheduler: task '{}' stopped running: {}", name,
                                      detail::describe(error));
                     }
                   });
  } catch (...) {
    --state_->live_loops;
    state_->tasks.pop_back();
    throw;
  }
  return id;
}

void scheduler::run_now(task_id id) {
  std::shared_ptr<detail::scheduled_task> task;
  {
    std::lock_guard lock(state_->mu);
    task = state_->find(id);
    if (state_->stopping) return;
  }
  // Only the request that sets the flag wakes the loop; later ones are already covered by it.
  if (!task->run_requested.exchange(true)) detail::wake(task);
}

task_stats scheduler::stats(task_id id) const {
  std::lock_guard lock(state_->mu);
  return state_->find(id)->stats;
}

void scheduler::stop() {
  detail::request_stop(*state_);
  std::unique_lock lock(state_->mu);
  state_->loops_exited.wait(lock, [this] { return state_->live_loops == 0; });
}

asio::awaitable<void> scheduler::async_stop() {
  return detail::stop_and_wait(state_);
}

}  // namespace larder
