// prefetcher<Key, Value>: reads an ordered sequence of keys (an epoch's sample order) ahead of its
// consumer through an asynchronous fetch function, and hands the values over in batches, in order.
//
// It keeps up to batches_ahead batches fetched or being fetched, within a byte budget
// (prefetch_options). The fetches of that window run concurrently, so a disk underneath sees a
// queue depth of more than one. When the consumer is slow the window fills and no more fetches
// start: that is the backpressure. The first failed fetch ends the sequence at its batch.
//
// Ownership: the prefetcher owns the keys, the fetch and size functions and the values fetched
// until next() hands them over; a returned batch is the caller's. The fetch function is released
// once no fetch can start any more and none is running, at the latest when async_stop() completes;
// it and whatever it refers to must stay valid until then. Destroying the prefetcher cancels it
// without waiting: fetches still running keep its internal state (the keys they read, the slots
// their values go to) alive, so nothing of the prefetcher is freed under them, but the objects the
// fetch function refers to are the caller's to keep alive: co_await async_stop() before destroying
// those.
//
// Errors: next() throws prefetch_error (naming the key) for the batch whose fetch failed, and again
// on every later call; it throws boost::system::system_error with asio::error::operation_aborted
// once the prefetcher is cancelled. The constructor throws std::invalid_argument for bad options.
//
// Key must be copy-constructible (a batch carries copies of its keys); Value need only be
// move-constructible.
//
// Thread safety: one consumer: next() must not be called again before the previous call has
// completed (std::logic_error otherwise). cancel(), async_stop(), stats() and batch_count() may be
// called from any thread, also while next() is waiting. The fetch and size functions are called
// concurrently, from several threads when the executor has several.
//
// Design
//  1. Window. detail::prefetch_window holds the rules (which item may start, the byte budget, what
//     has finished per batch, whether the head batch is ready) with no values and no coroutines.
//     One mutex guards it, the values that have arrived and the waiters.
//  2. Fetches. Each item is one coroutine (run_fetch) on a strand of its own: the fetches of a
//     window are in flight together and run in parallel on a multi-threaded executor, while each
//     one's cancellation can be emitted on its strand, the only place Asio allows it. Starting a
//     fetch posts a co_spawn to its strand. Not co_spawn itself: it dispatches, and on one of the
//     executor's threads it would run the fetch inline, under the mutex. On the strand, the
//     co_spawn that installs the cancellation slot is ordered before any cancellation, which is
//     posted there too. A finishing fetch stores its value, lets the window start more (the
//     window slides on arrivals too, as bytes free up or the mean size becomes known), and wakes
//     the consumer if its batch is now ready.
//  3. Consumer. next() hands the head batch over at once when it is ready; otherwise it suspends
//     and is resumed through a post to its own executor, never inline on a fetch's stack
//     (DESIGN.md). Handing a batch over slides the window and starts the fetches it lets in.
//     Cancelling a waiting next() (its coroutine's cancellation slot) cancels the prefetcher.
//  4. Failure. A failed fetch ends the sequence at its batch: nothing more starts, values of that
//     batch and later are dropped and their running fetches cancelled, the batches before it are
//     still delivered, then next() throws. A failure in an earlier batch, arriving later, moves the
//     end back to it.
//  5. Cancellation and lifetime. cancel() stops the window, drops the values not yet handed over,
//     emits terminal cancellation to every running fetch and wakes a waiting next(). The fetch
//     coroutines hold the internal state through a shared_ptr, so a fetch that ignores
//     cancellation still finds its slot (and its key, and the fetch function) when it ends, even
//     after the prefetcher is gone. async_stop() completes when the last running fetch has
//     ended. If the executor's context is destroyed with fetches suspended, each fetch's frame
//     counts itself out as it is destroyed, which cancels the prefetcher and wakes its waiters,
//     so no reference cycle through a parked consumer is left behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <larder/runtime/asio.hpp>
#include <larder/scheduler/prefetch_options.hpp>

namespace larder {

// A fetch failed. Carries the key as text (empty when Key cannot be formatted with fmt), its
// position in the sequence, its batch, and the fetch's own exception.
class prefetch_error : public std::runtime_error {
 public:
  // REQUIRES: cause is not null.
  prefetch_error(std::string key, std::size_t item, std::size_t batch, std::exception_ptr cause);

  const std::string& key() const noexcept { return key_; }
  std::size_t item() const noexcept { return item_; }
  std::size_t batch() const noexcept { return batch_; }
  // What the fetch threw; never null.
  const std::exception_ptr& cause() const noexcept { return cause_; }

 private:
  std::string key_;
  std::size_t item_;
  std::size_t batch_;
  std::exception_ptr cause_;
};

namespace detail {
template <typename Key, typename Value>
class prefetch_state;
}  // namespace detail

template <typename Key, typename Value>
class prefetcher {
 public:
  // Fetches one value. Called once per key, in sequence order, several running at a time. The key
  // stays valid until the returned awaitable completes.
  using fetch_function = std::function<asio::awaitable<Value>(const Key&)>;
  // The bytes a value holds, for the byte budget and the stats.
  using size_function = std::function<std::uint64_t(const Value&)>;

  struct batch {
    std::size_t index = 0;  // position in the sequence of batches, from 0
    std::vector<Key> keys;
    std::vector<Value> values;  // values[i] was fetched for keys[i]
  };

  // Starts fetching at once, on strands of `executor`. size_of may be empty unless options set a
  // byte budget or a size hint. Throws std::invalid_argument for an empty fetch function or bad
  // options.
  prefetcher(asio::any_io_executor executor, std::vector<Key> keys, prefetch_options options,
             fetch_function fetch, size_function size_of = {});
  // Cancels, without waiting for running fetches (see Ownership above).
  ~prefetcher();
  prefetcher(const prefetcher&) = delete;
  prefetcher& operator=(const prefetcher&) = delete;

  // The next batch in order, once all its values have arrived; std::nullopt after the last one.
  // Throws prefetch_error, or operation_aborted once cancelled (see Errors above).
  // REQUIRES: no other next() call in progress.
  asio::awaitable<std::optional<batch>> next();

  // Stops starting fetches, cancels those running, drops what has not been handed over, and wakes
  // a waiting next(). Does not wait for the fetches to end. Idempotent.
  void cancel();
  // cancel(), then completes, through the awaiting coroutine's executor, once every fetch has
  // ended and the fetch function has been released. May be awaited after the prefetcher is gone.
  asio::awaitable<void> async_stop();

  prefetch_stats stats() const;
  std::size_t batch_count() const noexcept;

 private:
  std::shared_ptr<detail::prefetch_state<Key, Value>> state_;
};

}  // namespace larder

#include <larder/scheduler/impl/prefetcher.hpp>
