// Template bodies of prefetcher<Key, Value> (prefetcher.hpp, whose design comment this follows):
// the state shared by the prefetcher, its consumer and its fetch coroutines. Included by
// prefetcher.hpp; not for direct inclusion.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <spdlog/fmt/fmt.h>

#include <larder/runtime/detail/posted_completion.hpp>
#include <larder/scheduler/detail/prefetch_window.hpp>

namespace larder {
namespace detail {

// The key as prefetch_error shows it: fmt's text when Key has a formatter, otherwise nothing (the
// error still names the item's position).
template <typename Key>
std::string describe_key(const Key& key) {
  if constexpr (fmt::is_formattable<Key>::value) {
    return fmt::format("{}", key);
  } else {
    return {};
  }
}

// For what escapes a fetch coroutine past its own handling (prefetcher.cpp).
void log_escaped_fetch_error(const std::exception_ptr& error) noexcept;

template <typename Key, typename Value>
class prefetch_state : public std::enable_shared_from_this<prefetch_state<Key, Value>> {
 public:
  using fetch_function = typename prefetcher<Key, Value>::fetch_function;
  using size_function = typename prefetcher<Key, Value>::size_function;
  using batch = typename prefetcher<Key, Value>::batch;

  prefetch_state(asio::any_io_executor executor, std::vector<Key> keys,
                 const prefetch_options& options, fetch_function fetch, size_function size_of);

  // Starts the first window; apart from the constructor, which cannot use shared_from_this().
  void start();
  static asio::awaitable<std::optional<batch>> next(std::shared_ptr<prefetch_state> self);
  void cancel();
  static asio::awaitable<void> stop_and_wait(std::shared_ptr<prefetch_state> self);
  prefetch_stats stats() const;
  std::size_t batch_count() const noexcept { return window_.batch_count(); }

 private:
  // A started fetch's strand, and the signal that cancels it there. Shared by running_, the
  // fetch's coroutine and posted cancellations, so the signal outlives every use of its slot.
  struct fetch_handle {
    explicit fetch_handle(asio::strand<asio::any_io_executor> s) : strand(std::move(s)) {}
    asio::strand<asio::any_io_executor> strand;
    asio::cancellation_signal signal;
    // Set once the fetch's start has been posted: before that, a ticket destroyed with a failed
    // post is spawn()'s to account for, under the mutex the ticket would otherwise take again.
    std::atomic<bool> launched{false};
  };

  // One started fetch's place in the window, owned by the posted start and then by the fetch's
  // coroutine frame. finish() hands the outcome over; a ticket destroyed unspent (with the
  // execution context) counts its fetch out as abandoned (design 5).
  class fetch_ticket {
   public:
    fetch_ticket(std::shared_ptr<prefetch_state> state, started_fetch fetch,
                 std::shared_ptr<fetch_handle> handle)
        : state_(std::move(state)), fetch_(fetch), handle_(std::move(handle)) {}
    fetch_ticket(fetch_ticket&&) noexcept = default;
    fetch_ticket& operator=(fetch_ticket&&) = delete;
    ~fetch_ticket() {
      if (state_ && handle_->launched.load()) state_->abandoned(fetch_);
    }

    prefetch_state& state() const noexcept { return *state_; }
    std::size_t item() const noexcept { return fetch_.item; }
    const std::shared_ptr<fetch_handle>& handle() const noexcept { return handle_; }

    void finish(std::optional<Value> value, std::uint64_t bytes, std::exception_ptr error) {
      const std::shared_ptr<prefetch_state> state = std::move(state_);
      state->finished(fetch_, std::move(value), bytes, std::move(error));
    }

   private:
    std::shared_ptr<prefetch_state> state_;  // null once spent
    started_fetch fetch_;
    std::shared_ptr<fetch_handle> handle_;
  };

  using batch_values = std::vector<std::optional<Value>>;

  // What a critical section leaves for after mu_ is released: destructors of user types (values,
  // the fetch function), which run user code, and posts (cancellations, wake-ups).
  struct after_unlock {
    std::deque<batch_values> dropped_batches;
    std::optional<Value> dropped_value;
    fetch_function released_fetch;
    std::vector<std::shared_ptr<fetch_handle>> cancels;
    std::function<void()> consumer;
    std::vector<std::function<void()>> stop_waiters;

    // Releases first, so that whoever is woken finds the fetch function gone.
    void run() {
      dropped_batches.clear();
      dropped_value.reset();
      released_fetch = nullptr;
      for (const auto& handle : cancels) {
        asio::post(handle->strand,
                   [handle] { handle->signal.emit(asio::cancellation_type::terminal); });
      }
      if (consumer) consumer();
      for (const auto& waiter : stop_waiters)
        waiter();
    }
  };

  // Runs on the fetch's strand: co_spawns run_fetch there, bound to the fetch's signal (design 2).
  static void launch(fetch_ticket ticket);
  static asio::awaitable<void> run_fetch(fetch_ticket ticket);
  void finished(const started_fetch& f, std::optional<Value> value, std::uint64_t bytes,
                std::exception_ptr error);
  void abandoned(const started_fetch& f) noexcept;
  asio::awaitable<void> wait_for_head();
  std::exception_ptr make_failure(const started_fetch& f, std::exception_ptr cause) const;

  // The functions below REQUIRE mu_ held.
  void start_more(after_unlock& later);
  void spawn(const started_fetch& f, after_unlock& later);
  void record_failure(const started_fetch& f, std::exception_ptr failure, after_unlock& later);
  // Marks the prefetcher cancelled, stops the window and drops the values not handed over.
  void end_sequence(after_unlock& later);
  batch take_head(after_unlock& later);
  void collect_wakeups(after_unlock& later);

  const asio::any_io_executor executor_;
  const std::vector<Key> keys_;
  const size_function size_of_;
  // Set by the constructor; released under mu_ once no fetch can start and none is running. Read
  // without mu_ only by run_fetch(), which exists only while its fetch counts as running.
  fetch_function fetch_;

  // mu_ protects the fields below.
  mutable std::mutex mu_;
  prefetch_window window_;
  std::deque<batch_values> values_;  // one per batch of window_, from its head
  std::map<std::size_t, std::shared_ptr<fetch_handle>> running_;  // by item
  std::exception_ptr failure_;  // the prefetch_error of window_.failed_batch()
  bool cancelled_ = false;
  bool consuming_ = false;                 // a next() call is in progress
  std::function<void()> consumer_waiter_;  // resumes a suspended next()
  std::vector<std::function<void()>> stop_waiters_;
  std::uint64_t consumer_waits_ = 0;
  std::chrono::nanoseconds consumer_wait_time_{0};
};

template <typename Key, typename Value>
prefetch_state<Key, Value>::prefetch_state(asio::any_io_executor executor, std::vector<Key> keys,
                                           const prefetch_options& options, fetch_function fetch,
                                           size_function size_of)
    : executor_(std::move(executor)),
      keys_(std::move(keys)),
      size_of_(std::move(size_of)),
      fetch_(std::move(fetch)),
      window_(keys_.size(), options, static_cast<bool>(size_of_)) {
  if (!fetch_) throw std::invalid_argument("larder::prefetcher: the fetch function is empty");
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::start() {
  after_unlock later;
  {
    std::lock_guard lock(mu_);
    start_more(later);
    collect_wakeups(later);
  }
  later.run();
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::start_more(after_unlock& later) {
  if (cancelled_) return;
  while (const std::optional<started_fetch> f = window_.start_next()) {
    const std::size_t batch = window_.batch_of(f->item);
    if (batch - window_.head() == values_.size()) values_.emplace_back(window_.batch_length(batch));
    spawn(*f, later);
  }
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::spawn(const started_fetch& f, after_unlock& later) {
  auto handle = std::make_shared<fetch_handle>(asio::make_strand(executor_));
  running_.emplace(f.item, handle);
  try {
    asio::post(handle->strand,
               [ticket = fetch_ticket(this->shared_from_this(), f, handle)]() mutable {
                 launch(std::move(ticket));
               });
  } catch (...) {
    // Nothing of the fetch runs; its batch fails like one whose fetch threw.
    running_.erase(f.item);
    record_failure(f, make_failure(f, std::current_exception()), later);
    return;
  }
  handle->launched.store(true);
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::launch(fetch_ticket ticket) {
  const std::shared_ptr<fetch_handle> handle = ticket.handle();
  asio::co_spawn(handle->strand, run_fetch(std::move(ticket)),
                 asio::bind_cancellation_slot(handle->signal.slot(),
                                              [handle](const std::exception_ptr& error) {
                                                if (error) log_escaped_fetch_error(error);
                                              }));
}

template <typename Key, typename Value>
asio::awaitable<void> prefetch_state<Key, Value>::run_fetch(fetch_ticket ticket) {
  prefetch_state& self = ticket.state();
  std::optional<Value> value;
  std::uint64_t bytes = 0;
  std::exception_ptr error;
  try {
    value.emplace(co_await self.fetch_(self.keys_[ticket.item()]));
    if (self.size_of_) bytes = self.size_of_(*value);
  } catch (...) {
    error = std::current_exception();
  }
  ticket.finish(std::move(value), bytes, std::move(error));
}

template <typename Key, typename Value>
std::exception_ptr prefetch_state<Key, Value>::make_failure(const started_fetch& f,
                                                            std::exception_ptr cause) const {
  return std::make_exception_ptr(prefetch_error(describe_key(keys_[f.item]), f.item,
                                                window_.batch_of(f.item), std::move(cause)));
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::finished(const started_fetch& f, std::optional<Value> value,
                                          std::uint64_t bytes, std::exception_ptr error) {
  // Built before locking: it formats the key and the cause's message.
  std::exception_ptr failure = error ? make_failure(f, std::move(error)) : nullptr;
  after_unlock later;
  {
    std::lock_guard lock(mu_);
    running_.erase(f.item);
    const std::size_t batch = window_.batch_of(f.item);
    const std::optional<std::size_t> failed = window_.failed_batch();
    if (cancelled_ || (failed && batch >= *failed)) {
      window_.abandon(f);
      if (value) later.dropped_value.emplace(std::move(*value));
    } else if (failure) {
      record_failure(f, std::move(failure), later);
    } else {
      values_[batch - window_.head()][f.item - window_.first_item(batch)].emplace(
          std::move(*value));
      window_.finish(f, bytes);
      start_more(later);
    }
    collect_wakeups(later);
  }
  later.run();
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::abandoned(const started_fetch& f) noexcept {
  after_unlock later;
  {
    std::lock_guard lock(mu_);
    running_.erase(f.item);
    window_.abandon(f);
    // No cancellations: the other fetches go down with the same execution context.
    if (!cancelled_) end_sequence(later);
    collect_wakeups(later);
  }
  later.run();
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::record_failure(const started_fetch& f, std::exception_ptr failure,
                                                after_unlock& later) {
  window_.fail(f);
  failure_ = std::move(failure);
  const std::size_t batch = window_.batch_of(f.item);
  while (values_.size() > batch - window_.head()) {
    later.dropped_batches.push_front(std::move(values_.back()));
    values_.pop_back();
  }
  for (auto it = running_.lower_bound(window_.first_item(batch)); it != running_.end(); ++it)
    later.cancels.push_back(it->second);
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::end_sequence(after_unlock& later) {
  cancelled_ = true;
  window_.stop();
  later.dropped_batches = std::exchange(values_, {});
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::collect_wakeups(after_unlock& later) {
  if (consumer_waiter_ && (cancelled_ || window_.state() != head_state::pending)) {
    later.consumer = std::exchange(consumer_waiter_, nullptr);
  }
  if (window_.running() == 0 && window_.exhausted()) {
    if (fetch_) later.released_fetch = std::exchange(fetch_, nullptr);
    later.stop_waiters.swap(stop_waiters_);
  }
}

template <typename Key, typename Value>
auto prefetch_state<Key, Value>::take_head(after_unlock& later) -> batch {
  batch out;
  out.index = window_.head();
  batch_values& arrived = values_.front();
  out.values.reserve(arrived.size());
  for (std::optional<Value>& value : arrived)
    out.values.push_back(std::move(*value));
  // The moved-from values are destroyed after the unlock, like every other user type.
  later.dropped_batches.push_back(std::move(arrived));
  values_.pop_front();
  window_.deliver_head();
  start_more(later);
  return out;
}

template <typename Key, typename Value>
auto prefetch_state<Key, Value>::next(std::shared_ptr<prefetch_state> self)
    -> asio::awaitable<std::optional<batch>> {
  {
    std::lock_guard lock(self->mu_);
    if (self->consuming_) {
      throw std::logic_error("larder::prefetcher::next: called while another next() is waiting");
    }
    self->consuming_ = true;
  }
  struct consumer_scope {
    prefetch_state& state;
    ~consumer_scope() {
      std::lock_guard lock(state.mu_);
      state.consuming_ = false;
    }
  } scope{*self};

  bool waited = false;
  while (true) {
    std::optional<batch> out;
    after_unlock later;
    {
      std::lock_guard lock(self->mu_);
      if (self->cancelled_) {
        throw boost::system::system_error(asio::error::operation_aborted,
                                          "larder::prefetcher cancelled");
      }
      switch (self->window_.state()) {
        case head_state::failed:
          std::rethrow_exception(self->failure_);
        case head_state::end:
          co_return std::nullopt;
        case head_state::ready:
          out.emplace(self->take_head(later));
          break;
        case head_state::pending:
          if (!waited) ++self->consumer_waits_;
          break;
      }
    }
    later.run();
    if (out) {
      // The keys never change: copied without the lock.
      const auto first =
          self->keys_.begin() + static_cast<std::ptrdiff_t>(self->window_.first_item(out->index));
      out->keys.assign(first, first + static_cast<std::ptrdiff_t>(out->values.size()));
      co_return out;
    }
    waited = true;
    const auto suspended_at = std::chrono::steady_clock::now();
    co_await self->wait_for_head();
    const auto stalled = std::chrono::steady_clock::now() - suspended_at;
    std::lock_guard lock(self->mu_);
    self->consumer_wait_time_ += std::chrono::duration_cast<std::chrono::nanoseconds>(stalled);
  }
}

template <typename Key, typename Value>
asio::awaitable<void> prefetch_state<Key, Value>::wait_for_head() {
  return asio::async_initiate<const asio::use_awaitable_t<>, void()>(
      [self = this->shared_from_this()](auto handler) {
        // Assigned before the waiter is published: from then on a fetch may resume the consumer on
        // another thread, and the resumption clears the slot.
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
          slot.assign([weak = std::weak_ptr<prefetch_state>(self)](asio::cancellation_type) {
            if (const auto state = weak.lock()) state->cancel();
          });
        }
        auto wake = posted_completion<>(std::move(handler));
        std::unique_lock lock(self->mu_);
        if (!self->cancelled_ && self->window_.state() == head_state::pending) {
          self->consumer_waiter_ = std::move(wake);
          return;
        }
        // The batch arrived between next()'s look and this initiation.
        lock.unlock();
        wake();
      },
      asio::use_awaitable);
}

template <typename Key, typename Value>
void prefetch_state<Key, Value>::cancel() {
  after_unlock later;
  {
    std::lock_guard lock(mu_);
    if (!cancelled_) {
      end_sequence(later);
      for (const auto& [item, handle] : running_)
        later.cancels.push_back(handle);
    }
    collect_wakeups(later);
  }
  later.run();
}

template <typename Key, typename Value>
asio::awaitable<void> prefetch_state<Key, Value>::stop_and_wait(
    std::shared_ptr<prefetch_state> self) {
  self->cancel();
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(
      [&self](auto handler) {
        auto done = posted_completion<>(std::move(handler));
        std::unique_lock lock(self->mu_);
        if (self->window_.running() != 0) {
          self->stop_waiters_.push_back(std::move(done));
          return;
        }
        lock.unlock();
        done();
      },
      asio::use_awaitable);
}

template <typename Key, typename Value>
prefetch_stats prefetch_state<Key, Value>::stats() const {
  std::lock_guard lock(mu_);
  prefetch_stats s = window_.stats();
  s.consumer_waits = consumer_waits_;
  s.consumer_wait_time = consumer_wait_time_;
  return s;
}

}  // namespace detail

template <typename Key, typename Value>
prefetcher<Key, Value>::prefetcher(asio::any_io_executor executor, std::vector<Key> keys,
                                   prefetch_options options, fetch_function fetch,
                                   size_function size_of)
    : state_(std::make_shared<detail::prefetch_state<Key, Value>>(
          std::move(executor), std::move(keys), options, std::move(fetch), std::move(size_of))) {
  state_->start();
}

template <typename Key, typename Value>
prefetcher<Key, Value>::~prefetcher() {
  state_->cancel();
}

template <typename Key, typename Value>
auto prefetcher<Key, Value>::next() -> asio::awaitable<std::optional<batch>> {
  return detail::prefetch_state<Key, Value>::next(state_);
}

template <typename Key, typename Value>
void prefetcher<Key, Value>::cancel() {
  state_->cancel();
}

template <typename Key, typename Value>
asio::awaitable<void> prefetcher<Key, Value>::async_stop() {
  return detail::prefetch_state<Key, Value>::stop_and_wait(state_);
}

template <typename Key, typename Value>
prefetch_stats prefetcher<Key, Value>::stats() const {
  return state_->stats();
}

template <typename Key, typename Value>
std::size_t prefetcher<Key, Value>::batch_count() const noexcept {
  return state_->batch_count();
}

}  // namespace larder
