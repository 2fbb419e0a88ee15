#include "larder/cache/policy/ghost_queue.hpp"

#include <algorithm>

namespace larder {

void ghost_queue::set_capacity(std::uint64_t weight) {
  capacity_ = weight;
  trim();
}

void ghost_queue::add(std::uint64_t hash, std::uint64_t weight) {
  take(hash);  // a key has one ghost: the newest
  if (weight > capacity_) return;
  const std::uint64_t sequence = next_sequence_++;
  fifo_.push_back(record{hash, sequence});
  live_[hash] = ghost{sequence, weight};
  weight_ += weight;
  trim();
}

bool ghost_queue::take(std::uint64_t hash) {
  const auto it = live_.find(hash);
  if (it == live_.end()) return false;
  weight_ -= it->second.weight;
  live_.erase(it);
  if (fifo_.size() > 2 * live_.size() + 64) sweep_stale();
  return true;
}

bool ghost_queue::is_live(const record& r) const {
  const auto it = live_.find(r.hash);
  return it != live_.end() && it->second.sequence == r.sequence;
}

void ghost_queue::trim() {
  while (!fifo_.empty()) {
    const record oldest = fifo_.front();
    if (is_live(oldest)) {
      if (weight_ <= capacity_) break;
      weight_ -= live_[oldest.hash].weight;
      live_.erase(oldest.hash);
    }
    fifo_.pop_front();
  }
}

void ghost_queue::sweep_stale() {
  std::erase_if(fifo_, [this](const record& r) { return !is_live(r); });
}

}  // namespace larder
