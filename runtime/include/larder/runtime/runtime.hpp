// runtime: an asio::io_context and the worker threads that run it.
//
// A convenience for programs that do not already have an executor (the larder command, tests,
// examples). Nothing else in larder requires one: every component takes an executor, so an
// application that runs its own io_context passes that instead.
//
// Tasks started with spawn() or run() each get their own strand and a cancellation signal.
// stop() emits terminal cancellation to every task still running and lets the threads drain the
// context for a grace period. Tasks still running after it are abandoned: the context is stopped,
// the threads joined, and each run() still waiting throws std::runtime_error.
//
// Thread safety: executor(), spawn(), run() and stop() may be called from any thread, except that
// run() and stop() must not be called from one of the runtime's own worker threads (they would
// wait on themselves; they throw std::logic_error instead). The destructor calls stop().
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <larder/runtime/asio.hpp>

namespace larder {

struct runtime_options {
  // Worker threads; 0 means std::thread::hardware_concurrency().
  unsigned threads = 0;
  // How long stop() waits for cancelled tasks to finish before it abandons them.
  std::chrono::milliseconds stop_grace{5000};
};

class runtime {
 public:
  using executor_type = asio::io_context::executor_type;

  explicit runtime(runtime_options options = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  executor_type executor() noexcept { return context_.get_executor(); }
  unsigned thread_count() const noexcept { return static_cast<unsigned>(threads_.size()); }

  // Starts `task` in the background. An exception that escapes it is logged, not rethrown.
  // Throws std::logic_error after stop().
  void spawn(asio::awaitable<void> task);
  // Starts the coroutine `make_task()` returns, keeping the callable alive until it finishes: the
  // safe way to spawn a lambda coroutine with captures, whose closure would otherwise die at the
  // end of the spawning statement.
  template <typename F>
  requires std::is_invocable_r_v<asio::awaitable<void>, F&> void spawn(F make_task) {
    spawn([](F f) -> asio::awaitable<void> { co_await f(); }(std::move(make_task)));
  }

  // Runs `task` on the runtime and blocks the calling thread until it finishes; returns its
  // result or rethrows its exception.
  template <typename T>
  T run(asio::awaitable<T> task);

  // Cancels every running task, waits up to stop_grace for them, abandons the rest, joins the
  // threads. Idempotent; concurrent callers all return once the first has finished.
  void stop();

 private:
  // A running task: its strand, the signal stop() cancels it with, and, for run(), how to wake
  // its caller if the task is abandoned. Shared, so that a posted cancellation stays valid if the
  // task finishes first.
  struct task_slot {
    explicit task_slot(executor_type ex) : strand(ex) {}
    asio::strand<executor_type> strand;
    asio::cancellation_signal signal;
    bool armed = false;                // guarded by runtime::mu_; true once co_spawn returned
    bool waited_on = false;            // a run() caller waits for it
    std::function<void()> on_abandon;  // set before the task starts; called at most once
  };
  using task_list = std::list<std::shared_ptr<task_slot>>;

  // run()'s result, settled once: by the task's completion, or by abandonment.
  template <typename T>
  struct run_result {
    std::mutex mu;
    bool settled = false;  // guarded by mu
    std::promise<T> promise;
    template <typename Set>
    void settle(Set&& set) {
      std::lock_guard lock(mu);
      if (settled) return;
      settled = true;
      set(promise);
    }
  };

  // Throws std::logic_error once stopping. `waited_on`: a run() caller blocks on the task.
  task_list::iterator register_task(bool waited_on);
  // Marks the task cancellable; cancels it at once if stop() began while it was being spawned.
  void arm_task(const std::shared_ptr<task_slot>& task);
  void finish_task(task_list::iterator it);
  bool on_worker_thread() const noexcept;
  void worker_main();

  asio::io_context context_;
  asio::executor_work_guard<executor_type> work_;
  std::vector<std::thread> threads_;
  std::chrono::milliseconds stop_grace_;

  // mu_ protects the fields below.
  std::mutex mu_;
  std::condition_variable changed_;
  task_list tasks_;
  unsigned running_workers_ = 0;
  unsigned waiting_runs_ = 0;  // run() calls that have not left yet
  bool stopping_ = false;
  bool stopped_ = false;
};

template <typename T>
T runtime::run(asio::awaitable<T> task) {
  if (on_worker_thread()) {
    throw std::logic_error("larder::runtime::run called from one of its own worker threads");
  }
  auto it = register_task(true);
  const std::shared_ptr<task_slot> slot = *it;
  auto result = std::make_shared<run_result<T>>();
  std::future<T> future = result->promise.get_future();
  slot->on_abandon = [result] {
    result->settle([](std::promise<T>& p) {
      p.set_exception(std::make_exception_ptr(
          std::runtime_error("larder::runtime stopped before the task finished")));
    });
  };
  auto complete = [result](std::exception_ptr error, auto&&... value) {
    result->settle([&](std::promise<T>& p) {
      if (error) {
        p.set_exception(error);
      } else {
        p.set_value(std::forward<decltype(value)>(value)...);
      }
    });
  };
  asio::co_spawn(slot->strand, std::move(task),
                 asio::bind_cancellation_slot(slot->signal.slot(), std::move(complete)));
  arm_task(slot);
  struct leave_guard {
    runtime* self;
    task_list::iterator it;
    ~leave_guard() { self->finish_task(it); }
  } leave{this, it};
  return future.get();
}

}  // namespace larder
