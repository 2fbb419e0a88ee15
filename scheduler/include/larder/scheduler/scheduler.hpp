// scheduler: runs periodic coroutine tasks on an Asio executor (the cache's cleanup passes, and
// anything else a service does on a timer), each at its own interval, optionally jittered, never
// overlapping itself.
//
// A task is a function returning asio::awaitable<void>; each call is one pass. The wait between
// passes is measured from the end of one pass to the start of the next (fixed delay, not fixed
// rate), so a slow pass postpones the next one instead of queueing runs up. A pass that throws is
// counted, its message kept and logged, and the task runs again after its interval.
//
// Ownership: the scheduler owns the task functions and destroys them before stop() returns. It does
// not own the executor: its execution context must outlive the scheduler and keep running until
// stop() has returned, or stop() waits forever.
//
// Errors: schedule() throws std::invalid_argument for bad options and std::logic_error once
// stopping; run_now() and stats() throw std::out_of_range for an id this scheduler never issued.
//
// Thread safety: schedule(), run_now(), stats(), stop() and async_stop() may be called concurrently
// from any thread. stop() and the destructor block until running passes finish, so they must not be
// called from a thread those passes need (a single-threaded executor's own thread); from inside one
// of this scheduler's tasks, where waiting would deadlock, stop() and async_stop() throw
// std::logic_error. The destructor calls stop() and must not run concurrently with any other call.
//
// Design
//  1. One loop per task. schedule() co_spawns a coroutine on a strand of the task's own that
//     alternates a wait on a steady_timer and a pass (co_await of the task function, which so runs
//     on that strand). The next wait starts only once the pass has finished, which is what keeps a
//     task from overlapping itself. Different tasks run in parallel on a multi-threaded executor.
//  2. Requests. run_now() and stop() set atomic flags on the task, then post a cancel of its timer
//     to its strand (the timer is touched nowhere else). The loop reads the flags whenever it wakes
//     and before every wait: stop wins over everything; a run request ends the wait, or, if it came
//     during a pass, starts one more pass right after it, however many requests came (coalescing).
//     A cancel whose request a pass has already served wakes the loop with no flag set: it waits on
//     for the same deadline.
//  3. Stopping. stop() marks the scheduler stopping (schedule() refuses, run_now() does nothing),
//     sets every task's stop flag and cancels its wait. A pass in progress is not cancelled: it
//     runs to its end, and its loop then exits instead of waiting again. Each loop, as it exits,
//     releases its task function and counts itself out under the mutex; the last one wakes the
//     blocked stop() callers and posts the completions of async_stop() callers.
//  4. Lifetime. The loops share the scheduler's state through a shared_ptr and never point at the
//     scheduler object, so the last steps of an exiting loop stay valid even once stop() has
//     returned and the scheduler is gone.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <larder/runtime/asio.hpp>

namespace larder {

namespace detail {
struct scheduler_state;
}  // namespace detail

struct scheduler_options {
  // Seeds the jitter of every task (each task mixes in its id, so its delays do not depend on
  // the other tasks). Unset: std::random_device, so that processes started together spread their
  // passes out; tests set it to get the same delays on every run.
  std::optional<std::uint64_t> seed;
};

struct task_options {
  // Wait from the end of one pass to the start of the next. Must be positive.
  std::chrono::nanoseconds interval{};
  // Each wait is drawn uniformly from interval * [1 - jitter, 1 + jitter]: 0.1 is ±10 %.
  // Must be in [0, 1].
  double jitter = 0.0;
};

struct task_stats {
  std::uint64_t runs = 0;      // passes finished, including those that threw
  std::uint64_t failures = 0;  // passes that threw
  std::string last_error;      // what() of the latest failure; empty until a pass fails
};

// Names one task of one scheduler.
enum class task_id : std::size_t {};

class scheduler {
 public:
  // One pass of a task. Called again for every pass; the coroutine it returns runs on the task's
  // strand and is awaited to its end before the next wait begins.
  using task_function = std::function<asio::awaitable<void>()>;

  explicit scheduler(asio::any_io_executor executor, scheduler_options options = {});
  // Calls stop(). REQUIRES: not called from inside one of the tasks, where stop() throws and a
  // destructor cannot.
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // Runs fn every options.interval (jittered), the first pass one interval from now; call
  // run_now() for an immediate one. `name` appears in log lines.
  // Throws std::invalid_argument for an empty fn, a non-positive interval or a jitter outside
  // [0, 1]; std::logic_error once stop() or async_stop() has begun.
  task_id schedule(std::string name, task_options options, task_function fn);

  // Asks for a pass of the task now instead of at the end of its wait. During a pass, one more
  // pass follows it, however many times run_now() is called meanwhile. The wait after a pass
  // starts from the full interval again. Does nothing once stopping.
  void run_now(task_id task);

  // The task's counters as of its latest finished pass.
  task_stats stats(task_id task) const;

  // Cancels every wait, lets the passes in progress finish, and blocks until they have: no pass
  // runs after stop() returns. Idempotent; concurrent callers all return once every task is done.
  void stop();
  // Like stop(), but the awaiting coroutine is resumed (through its own executor) instead of a
  // thread blocking. The awaitable may be awaited after the scheduler is gone.
  asio::awaitable<void> async_stop();

 private:
  std::shared_ptr<detail::scheduler_state> state_;
};

}  // namespace larder
