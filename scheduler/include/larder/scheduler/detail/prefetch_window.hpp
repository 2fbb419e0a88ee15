// prefetch_window: the bookkeeping of a prefetcher without its values or coroutines. It decides
// which item of the sequence may start fetching next, charges bytes against the budget, counts what
// has finished per batch, and says whether the batch the consumer asks for next is ready.
//
// Kept apart from the prefetcher template so that the rules are compiled once and tested
// step by step, without timers or threads.
//
// The rules:
//  - Items start in sequence order. An item may start while its batch is fewer than batches_ahead
//    batches past the head (the next batch to hand over).
//  - Beyond the head batch, an item also needs its estimate to fit in the byte budget beside what
//    is charged already: the sizes of finished, undelivered values and the estimates of running
//    fetches. The head batch is exempt, so a batch larger than the budget cannot stall the
//    consumer forever. With exact or over-estimating hints the charge therefore never exceeds
//    max(budget, bytes of the head batch).
//  - A failure ends the sequence at its batch: nothing more starts, the batches before it are still
//    delivered, and the head stops there. stop() (cancellation) ends it at once.
//
// Thread safety: none; the prefetcher calls it under its mutex. batch_of(), first_item(),
// batch_length() and batch_count() read only what the constructor set, and may be called
// without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include <larder/scheduler/prefetch_options.hpp>

namespace larder::detail {

// A fetch the window let start: the item, and the bytes charged for it until it finishes.
struct started_fetch {
  std::size_t item = 0;
  std::uint64_t charge = 0;
};

enum class head_state {
  pending,  // some of its values have not arrived
  ready,    // every value has arrived: deliver_head() may hand it over
  failed,   // one of its fetches failed
  end,      // every batch has been handed over
};

class prefetch_window {
 public:
  // measures_bytes: the prefetcher knows the size of a value; without that, a byte budget or a size
  // hint means nothing and is refused. Throws std::invalid_argument naming the option, its value
  // and what is accepted.
  prefetch_window(std::size_t item_count, const prefetch_options& options, bool measures_bytes);

  std::size_t batch_count() const noexcept { return batch_count_; }
  std::size_t batch_of(std::size_t item) const noexcept { return item / batch_size_; }
  std::size_t first_item(std::size_t batch) const noexcept { return batch * batch_size_; }
  std::size_t batch_length(std::size_t batch) const noexcept;

  // The next batch to hand over.
  std::size_t head() const noexcept { return head_; }
  head_state state() const noexcept;
  std::optional<std::size_t> failed_batch() const noexcept { return failed_batch_; }

  // Starts the next item if the rules allow it now.
  std::optional<started_fetch> start_next();
  // A fetch returned a value of `bytes` bytes.
  // REQUIRES: f came from start_next(), has not been finished, and its batch is before any failure;
  // not stopped.
  void finish(const started_fetch& f, std::uint64_t bytes);
  // A fetch failed. Its batch becomes the end of the sequence; the bytes of finished values from it
  // onwards are released. REQUIRES: as for finish().
  void fail(const started_fetch& f);
  // A fetch ended whose value is not wanted: after stop(), or in or after the failed batch.
  void abandon(const started_fetch& f);
  // Ends the sequence now (cancellation): nothing more starts, and the bytes of finished values are
  // released.
  void stop();

  // Hands the head batch over: releases its bytes and moves the head on.
  // REQUIRES: state() == head_state::ready.
  void deliver_head();

  std::size_t running() const noexcept { return running_; }
  // True once no item will start again: all have started, or the sequence has ended early.
  bool exhausted() const noexcept;

  // Everything but the consumer's waits, which the prefetcher measures.
  prefetch_stats stats() const;

 private:
  struct batch_progress {
    std::size_t unfinished;   // items not yet finished, started or not
    std::uint64_t bytes = 0;  // sizes of its finished values
  };

  batch_progress& progress(std::size_t batch) { return batches_[batch - head_]; }
  // The charge for the next fetch; empty while it cannot be known (no hint, no value yet).
  std::optional<std::uint64_t> estimate() const noexcept;
  bool fits_budget(std::uint64_t charge) const noexcept;
  void charge(std::uint64_t bytes) noexcept;
  // Releases the bytes of the finished values of `batch` and every batch after it.
  void release_from(std::size_t batch) noexcept;

  const std::size_t item_count_;
  const std::size_t batch_size_;
  const std::size_t batch_count_;
  const std::size_t batches_ahead_;
  const std::uint64_t max_bytes_;
  const std::uint64_t item_bytes_hint_;
  const bool budgeted_;  // max_bytes_ limits anything

  std::size_t head_ = 0;
  std::size_t next_item_ = 0;
  std::deque<batch_progress> batches_;  // head_ up to the batch of the last started item
  std::optional<std::size_t> failed_batch_;
  bool stopped_ = false;

  std::uint64_t charged_ = 0;
  std::uint64_t max_charged_ = 0;
  std::uint64_t sized_values_ = 0;  // values whose size is known, and their total, for the mean
  std::uint64_t sized_bytes_ = 0;
  std::size_t running_ = 0;
  std::size_t max_running_ = 0;
  std::uint64_t started_ = 0;
  std::uint64_t delivered_ = 0;
};

}  // namespace larder::detail
