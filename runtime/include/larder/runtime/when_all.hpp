// when_all: run several awaitables concurrently and wait for all of them.
//
// Each task is co_spawned on the awaiting coroutine's executor: the tasks interleave at their
// suspension points (so their I/O overlaps), and run in parallel when that executor is a plain
// multi-threaded io_context rather than a strand. The awaiting coroutine resumes, through a post
// to its executor, once the last task has finished. Cancelling the awaiting coroutine cancels
// every task (emitted on that executor, where the tasks run). Results come back in the order of the
// input, not of completion. If any task throws, the others still run to the end, then the first
// exception (in completion order) is rethrown and the other results are discarded.
//
// Thread safety: a free function; the tasks themselves must be safe to run concurrently.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <larder/runtime/asio.hpp>
#include <larder/runtime/detail/posted_completion.hpp>

namespace larder {
namespace detail {

// Shared by the tasks of one when_all; the last task to finish posts `done`.
template <typename Result>
struct when_all_state {
  explicit when_all_state(std::size_t n) : remaining(n), results(n), signals(n) {}

  void finish(std::exception_ptr error) {
    if (error) {
      std::lock_guard lock(error_mu);
      if (!first_error) first_error = error;
    }
    // acq_rel: the last task sees every other task's result before it posts the completion.
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    done();
  }

  std::atomic<std::size_t> remaining;
  std::vector<std::optional<Result>> results;
  std::mutex error_mu;
  std::exception_ptr first_error;                  // guarded by error_mu
  std::function<void()> done;                      // posts the awaiting coroutine's resumption
  std::vector<asio::cancellation_signal> signals;  // one per task
};

template <typename Result, typename Task, typename Store>
asio::awaitable<void> run_all(std::vector<Task> tasks,
                              std::shared_ptr<when_all_state<Result>> state, Store store) {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(
      [&](auto handler) {
        // Copy what the loop needs out of this frame first: once the last task finishes, the
        // awaiting coroutine may resume on another thread and destroy the frame while this loop
        // is still running.
        auto children = std::move(tasks);
        auto shared = state;
        auto executor = ex;
        auto completion = store;
        // Cancelling the awaiting coroutine cancels every task. The tasks run on its executor,
        // so the signal is emitted where they run.
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
          slot.assign([shared](asio::cancellation_type type) {
            for (auto& signal : shared->signals)
              signal.emit(type);
          });
        }
        shared->done = posted_completion<>(std::move(handler));
        for (std::size_t i = 0; i < children.size(); ++i) {
          asio::co_spawn(
              executor, std::move(children[i]),
              asio::bind_cancellation_slot(shared->signals[i].slot(), completion(shared, i)));
        }
      },
      asio::use_awaitable);
  if (state->first_error) std::rethrow_exception(state->first_error);
}

}  // namespace detail

template <typename T>
asio::awaitable<std::vector<T>> when_all(std::vector<asio::awaitable<T>> tasks) {
  if (tasks.empty()) co_return std::vector<T>{};
  auto state = std::make_shared<detail::when_all_state<T>>(tasks.size());
  co_await detail::run_all<T>(std::move(tasks), state, [](auto st, std::size_t i) {
    return [st, i](std::exception_ptr error, T value) {
      if (!error) st->results[i].emplace(std::move(value));
      st->finish(error);
    };
  });
  std::vector<T> out;
  out.reserve(state->results.size());
  for (auto& r : state->results)
    out.push_back(std::move(*r));
  co_return out;
}

inline asio::awaitable<void> when_all(std::vector<asio::awaitable<void>> tasks) {
  if (tasks.empty()) co_return;
  auto state = std::make_shared<detail::when_all_state<bool>>(tasks.size());
  co_await detail::run_all<bool>(std::move(tasks), state, [](auto st, std::size_t) {
    return [st](std::exception_ptr error) { st->finish(error); };
  });
}

}  // namespace larder
