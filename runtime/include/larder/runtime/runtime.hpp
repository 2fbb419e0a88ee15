// runtime: an asio::io_context and the worker threads that run it.
//
// A convenience for programs that do not already have an executor (the larder command, tests,
// examples). Nothing else in larder requires one: every component takes an executor, so an
// application that runs its own io_context passes that instead.
//
// Tasks started with spawn() or run() each get their own strand and a cancellation signal;
// stop() emits terminal cancellation to every task still running, lets the threads drain the
// context for a grace period, then stops the context and joins the threads.
//
// Thread safety: executor(), spawn() and run() may be called from any thread. stop() and the
// destructor must not be called from one of the runtime's own worker threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include <larder/runtime/asio.hpp>

namespace larder {

struct runtime_options {
  // Worker threads; 0 means std::thread::hardware_concurrency().
  unsigned threads = 0;
  // How long stop() waits for cancelled tasks to finish before it stops the context outright.
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

  // Runs `task` on the runtime and blocks the calling thread until it finishes; returns its
  // result or rethrows its exception.
  // REQUIRES: not called from a worker thread of this runtime (it would wait on itself).
  template <typename T>
  T run(asio::awaitable<T> task);

  // Cancels every running task, waits up to stop_grace for them, and joins the threads.
  // Idempotent.
  void stop();

 private:
  // A running task: the strand it runs on and the signal stop() uses to cancel it. Shared, so
  // that a cancellation posted by stop() stays valid if the task finishes first.
  struct task_slot {
    explicit task_slot(executor_type ex) : strand(ex) {}
    asio::strand<executor_type> strand;
    asio::cancellation_signal signal;
  };
  using task_list = std::list<std::shared_ptr<task_slot>>;

  // Throws std::logic_error once stopping.
  task_list::iterator register_task();
  void finish_task(task_list::iterator it);
  bool on_worker_thread() const noexcept;
  void worker_main();

  asio::io_context context_;
  asio::executor_work_guard<executor_type> work_;
  std::vector<std::thread> threads_;
  std::chrono::milliseconds stop_grace_;

  // mu_ protects the fields below.
  std::mutex mu_;
  std::condition_variable workers_done_;
  task_list tasks_;
  unsigned running_workers_ = 0;
  bool stopping_ = false;
};

template <typename T>
T runtime::run(asio::awaitable<T> task) {
  if (on_worker_thread()) {
    throw std::logic_error("larder::runtime::run called from one of its own worker threads");
  }
  auto it = register_task();
  std::future<T> result = asio::co_spawn(
      (*it)->strand, std::move(task),
      asio::bind_cancellation_slot((*it)->signal.slot(), asio::use_future));
  struct finisher {
    runtime* self;
    task_list::iterator it;
    ~finisher() { self->finish_task(it); }
  } finish{this, it};
  return result.get();
}

}  // namespace larder
