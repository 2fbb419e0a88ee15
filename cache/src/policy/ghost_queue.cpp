#include "larder/cache/policy/ghost_queue.hpp"

namespace larder {
namespace {

constexpr std::size_t initial_slots = 64;

}  // namespace

ghost_queue::ghost_queue() : table_(initial_slots), mask_(initial_slots - 1) {}

void ghost_queue::set_capacity(std::uint64_t weight) {
  capacity_ = weight;
  trim();
}

std::size_t ghost_queue::find(std::uint64_t hash) const noexcept {
  for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const slot& s = table_[i];
    if (s.sequence_plus_one == 0) return no_slot;
    if (s.hash == hash) return i;
  }
}

void ghost_queue::erase_slot(std::size_t hole) noexcept {
  // Shift back every following slot whose home is not between the hole and its position.
  for (std::size_t next = (hole + 1) & mask_; table_[next].sequence_plus_one != 0;
       next = (next + 1) & mask_) {
    const std::size_t home = table_[next].hash & mask_;
    const bool stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    if (!stays) {
      table_[hole] = table_[next];
      hole = next;
    }
  }
  table_[hole] = slot{};
  --live_;
}

void ghost_queue::insert_slot(std::uint64_t hash, std::uint64_t sequence) {
  if ((live_ + 1) * 4 > (mask_ + 1) * 3) grow();
  std::size_t i = hash & mask_;
  while (table_[i].sequence_plus_one != 0)
    i = (i + 1) & mask_;
  table_[i] = slot{hash, sequence + 1};
  ++live_;
}

void ghost_queue::grow() {
  std::vector<slot> old = std::move(table_);
  table_.assign(old.size() * 2, slot{});
  mask_ = table_.size() - 1;
  for (const slot& s : old) {
    if (s.sequence_plus_one == 0) continue;
    std::size_t i = s.hash & mask_;
    while (table_[i].sequence_plus_one != 0)
      i = (i + 1) & mask_;
    table_[i] = s;
  }
}

void ghost_queue::add(std::uint64_t hash, std::uint64_t weight) {
  take(hash);  // a key has one ghost: the newest
  if (weight > capacity_) return;
  const std::uint64_t sequence = front_sequence_ + fifo_.size();
  fifo_.push_back(record{hash, weight});
  insert_slot(hash, sequence);
  weight_ += weight;
  trim();
  while (fifo_.size() > 4 * live_ + 1024)
    pop_front();
}

bool ghost_queue::take(std::uint64_t hash) {
  const std::size_t i = find(hash);
  if (i == no_slot) return false;
  weight_ -= fifo_[table_[i].sequence_plus_one - 1 - front_sequence_].weight;
  erase_slot(i);
  return true;
}

std::size_t ghost_queue::front_slot() const noexcept {
  const std::size_t i = find(fifo_.front().hash);
  return i != no_slot && table_[i].sequence_plus_one - 1 == front_sequence_ ? i : no_slot;
}

void ghost_queue::pop_front() {
  if (const std::size_t i = front_slot(); i != no_slot) {
    weight_ -= fifo_.front().weight;
    erase_slot(i);
  }
  fifo_.pop_front();
  ++front_sequence_;
}

void ghost_queue::trim() {
  while (weight_ > capacity_ && !fifo_.empty())
    pop_front();
  // Stale records at the front serve nothing.
  while (!fifo_.empty() && front_slot() == no_slot)
    pop_front();
}

}  // namespace larder
