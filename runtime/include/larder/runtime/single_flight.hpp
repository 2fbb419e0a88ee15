// single_flight<T>: at most one computation per key in flight; every concurrent caller for that
// key gets the same result, or the same exception.
//
// The first caller of run(key, fn) becomes the leader and awaits fn() itself; callers that arrive
// while it runs wait for it. When the leader finishes, each waiter's completion is posted to the
// waiter's own executor, never run inline on the leader's stack (a chain of inline completions
// grows the stack without bound). A caller that arrives after the flight has finished starts a
// new one: results are shared, not cached.
//
// T must be copy-constructible (each waiter gets a copy) and default-constructible. A waiter is
// not individually cancellable: it resumes when the leader finishes. If the leader is cancelled,
// its exception reaches every waiter.
//
// Thread safety: run() and in_flight() may be called concurrently from any thread. The object
// must outlive every run() call on it.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <larder/runtime/asio.hpp>
#include <larder/runtime/detail/posted_completion.hpp>

namespace larder {

template <typename T>
class single_flight {
 public:
  // Runs fn() unless a flight for key is already running, in which case it waits for that one.
  // fn: a callable returning asio::awaitable<T>, taken by value so that it lives in the
  // coroutine frame. It is invoked at most once per flight. key must stay valid until the
  // returned awaitable completes.
  template <typename Fn>
  asio::awaitable<T> run(std::string_view key, Fn fn);

  // Number of flights running now.
  std::size_t in_flight() const {
    std::lock_guard lock(mu_);
    return flights_.size();
  }

  // Number of callers that waited on another caller's flight instead of running their own.
  std::size_t coalesced() const {
    std::lock_guard lock(mu_);
    return coalesced_;
  }

 private:
  // Posts the waiting coroutine's resumption to its executor.
  using waiter = std::function<void(std::exception_ptr, T)>;

  struct flight {
    // All fields guarded by single_flight::mu_.
    std::vector<waiter> waiters;
    bool done = false;
    std::exception_ptr error;
    std::optional<T> value;
  };

  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  static void deliver(const waiter& w, std::exception_ptr error, const std::optional<T>& value) {
    w(error, value ? *value : T{});
  }

  asio::awaitable<T> wait(std::shared_ptr<flight> f);
  // Ends a flight: records its outcome, removes it, and wakes its waiters.
  void finish(std::string_view key, flight& f, std::exception_ptr error,
              const std::optional<T>& value);

  // mu_ protects the fields below and every flight's fields.
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<flight>, string_hash, std::equal_to<>> flights_;
  std::size_t coalesced_ = 0;
};

template <typename T>
template <typename Fn>
asio::awaitable<T> single_flight<T>::run(std::string_view key, Fn fn) {
  std::shared_ptr<flight> f;
  bool leader = false;
  {
    std::lock_guard lock(mu_);
    auto it = flights_.find(key);
    if (it == flights_.end()) {
      f = std::make_shared<flight>();
      flights_.emplace(std::string(key), f);
      leader = true;
    } else {
      f = it->second;
      ++coalesced_;
    }
  }
  if (!leader) co_return co_await wait(std::move(f));

  // If this frame is destroyed before the flight finishes (its io_context shut down with the
  // flight in progress), the waiters get operation_aborted and later callers start afresh.
  struct abandon_guard {
    single_flight* self;
    std::string_view key;
    std::shared_ptr<flight>* f;
    ~abandon_guard() {
      if (*f) {
        self->finish(key, **f,
                     std::make_exception_ptr(boost::system::system_error(
                         asio::error::operation_aborted, "single_flight leader abandoned")),
                     std::nullopt);
      }
    }
  } guard{this, key, &f};

  std::exception_ptr error;
  std::optional<T> value;
  try {
    value.emplace(co_await std::invoke(fn));
  } catch (...) {
    error = std::current_exception();
  }
  finish(key, *f, error, value);
  f.reset();
  if (error) std::rethrow_exception(error);
  co_return std::move(*value);
}

template <typename T>
void single_flight<T>::finish(std::string_view key, flight& f, std::exception_ptr error,
                              const std::optional<T>& value) {
  std::vector<waiter> waiters;
  {
    std::lock_guard lock(mu_);
    f.done = true;
    f.error = error;
    f.value = value;
    waiters.swap(f.waiters);
    flights_.erase(flights_.find(key));
  }
  for (const auto& w : waiters)
    deliver(w, error, value);
}

template <typename T>
asio::awaitable<T> single_flight<T>::wait(std::shared_ptr<flight> f) {
  return asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr, T)>(
      [this, f = std::move(f)](auto handler) {
        waiter w = detail::posted_completion<std::exception_ptr, T>(std::move(handler));
        std::unique_lock lock(mu_);
        if (!f->done) {
          f->waiters.push_back(std::move(w));
          return;
        }
        // The leader finished between our lookup and this initiation.
        auto error = f->error;
        auto value = f->value;
        lock.unlock();
        deliver(w, error, value);
      },
      asio::use_awaitable);
}

}  // namespace larder
