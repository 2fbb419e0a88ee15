#include "larder/scheduler/detail/prefetch_window.hpp"

#include <algorithm>
#include <cassert>
#include <limits>
#include <stdexcept>

#include <spdlog/fmt/fmt.h>

namespace larder::detail {
namespace {

const prefetch_options& validated(const prefetch_options& options, bool measures_bytes) {
  if (options.batch_size == 0) {
    throw std::invalid_argument(
        "prefetch_options.batch_size: 0 is not a batch size; use 1 or more");
  }
  if (options.batches_ahead == 0) {
    throw std::invalid_argument(
        "prefetch_options.batches_ahead: 0 would never fetch anything; use 1 or more");
  }
  if (options.max_bytes_in_flight == 0) {
    throw std::invalid_argument(
        "prefetch_options.max_bytes_in_flight: 0 is not a budget; use 1 or more, or leave it "
        "unlimited");
  }
  const bool budgeted = options.max_bytes_in_flight != std::numeric_limits<std::uint64_t>::max();
  if (budgeted && !measures_bytes) {
    throw std::invalid_argument(fmt::format(
        "prefetch_options.max_bytes_in_flight: a budget of {} bytes needs a size function to "
        "measure the values by; pass one to the prefetcher or leave the budget unlimited",
        options.max_bytes_in_flight));
  }
  if (options.item_bytes_hint != 0 && !measures_bytes) {
    throw std::invalid_argument(fmt::format(
        "prefetch_options.item_bytes_hint: a hint of {} bytes needs a size function to measure "
        "the values by; pass one to the prefetcher or leave the hint 0",
        options.item_bytes_hint));
  }
  return options;
}

std::size_t batches_for(std::size_t items, std::size_t batch_size) {
  return items / batch_size + (items % batch_size != 0 ? 1 : 0);
}

}  // namespace

prefetch_window::prefetch_window(std::size_t item_count, const prefetch_options& options,
                                 bool measures_bytes)
    : item_count_(item_count),
      batch_size_(validated(options, measures_bytes).batch_size),
      batch_count_(batches_for(item_count, options.batch_size)),
      batches_ahead_(options.batches_ahead),
      max_bytes_(options.max_bytes_in_flight),
      item_bytes_hint_(options.item_bytes_hint),
      budgeted_(options.max_bytes_in_flight != std::numeric_limits<std::uint64_t>::max()) {}

std::size_t prefetch_window::batch_length(std::size_t batch) const noexcept {
  return std::min(batch_size_, item_count_ - first_item(batch));
}

head_state prefetch_window::state() const noexcept {
  if (failed_batch_ == head_) return head_state::failed;
  if (head_ == batch_count_) return head_state::end;
  if (!batches_.empty() && batches_.front().unfinished == 0) return head_state::ready;
  return head_state::pending;
}

bool prefetch_window::exhausted() const noexcept {
  return stopped_ || failed_batch_.has_value() || next_item_ == item_count_;
}

std::optional<std::uint64_t> prefetch_window::estimate() const noexcept {
  if (item_bytes_hint_ != 0) return item_bytes_hint_;
  if (sized_values_ == 0) return std::nullopt;
  return sized_bytes_ / sized_values_ + (sized_bytes_ % sized_values_ != 0 ? 1 : 0);
}

bool prefetch_window::fits_budget(std::uint64_t bytes) const noexcept {
  return charged_ <= max_bytes_ && bytes <= max_bytes_ - charged_;
}

void prefetch_window::charge(std::uint64_t bytes) noexcept {
  charged_ += bytes;
  max_charged_ = std::max(max_charged_, charged_);
}

std::optional<started_fetch> prefetch_window::start_next() {
  if (exhausted()) return std::nullopt;
  const std::size_t batch = batch_of(next_item_);
  if (batch - head_ >= batches_ahead_) return std::nullopt;
  const std::optional<std::uint64_t> bytes = estimate();
  if (budgeted_ && batch != head_ && (!bytes || !fits_budget(*bytes))) return std::nullopt;

  if (batch - head_ == batches_.size()) batches_.push_back({batch_length(batch)});
  const started_fetch f{next_item_++, bytes.value_or(0)};
  charge(f.charge);
  ++started_;
  max_running_ = std::max(max_running_, ++running_);
  return f;
}

void prefetch_window::finish(const started_fetch& f, std::uint64_t bytes) {
  assert(!stopped_ && (!failed_batch_ || batch_of(f.item) < *failed_batch_));
  batch_progress& batch = progress(batch_of(f.item));
  --batch.unfinished;
  batch.bytes += bytes;
  --running_;
  charged_ -= f.charge;
  charge(bytes);
  ++sized_values_;
  sized_bytes_ += bytes;
}

void prefetch_window::fail(const started_fetch& f) {
  assert(!stopped_ && (!failed_batch_ || batch_of(f.item) < *failed_batch_));
  --running_;
  charged_ -= f.charge;
  failed_batch_ = batch_of(f.item);
  release_from(*failed_batch_);
}

void prefetch_window::abandon(const started_fetch& f) {
  --running_;
  charged_ -= f.charge;
}

void prefetch_window::stop() {
  stopped_ = true;
  release_from(head_);
}

void prefetch_window::release_from(std::size_t batch) noexcept {
  for (std::size_t i = batch - head_; i < batches_.size(); ++i) {
    charged_ -= batches_[i].bytes;
    batches_[i].bytes = 0;
  }
}

void prefetch_window::deliver_head() {
  assert(state() == head_state::ready);
  charged_ -= batches_.front().bytes;
  batches_.pop_front();
  ++head_;
  ++delivered_;
}

prefetch_stats prefetch_window::stats() const {
  prefetch_stats s;
  s.fetches_started = started_;
  s.fetches_running = running_;
  s.max_fetches_running = max_running_;
  s.bytes_in_flight = charged_;
  s.max_bytes_in_flight = max_charged_;
  s.batches_delivered = delivered_;
  return s;
}

}  // namespace larder::detail
