#include "larder/cache/policy/s3fifo_policy.hpp"

#include <algorithm>

namespace larder {

void s3fifo_policy::set_capacity(std::uint64_t weight) {
  small_capacity_ = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(static_cast<double>(weight) * small_share));
  main_capacity_ = weight > small_capacity_ ? weight - small_capacity_ : 0;
  ghost_.set_capacity(static_cast<std::uint64_t>(static_cast<double>(weight) * ghost_share));
}

void s3fifo_policy::push_main(memory_entry& e) {
  e.policy_queue = in_main;
  main_.push_front(e);
  main_weight_ += e.charge;
}

void s3fifo_policy::on_insert(memory_entry& e) {
  e.policy_counter.store(0, std::memory_order_relaxed);
  // A key G remembers comes back into M, and G forgets it.
  if (ghost_.take(e.hash) || e.charge > small_capacity_) {
    push_main(e);
    return;
  }
  e.policy_queue = in_small;
  small_.push_front(e);
  small_weight_ += e.charge;
}

void s3fifo_policy::on_erase(memory_entry& e, erase_reason why) {
  if (e.policy_queue == in_small) {
    small_.remove(e);
    small_weight_ -= e.charge;
    if (why == erase_reason::evicted) ghost_.add(e.hash, e.charge);
  } else {
    main_.remove(e);
    main_weight_ -= e.charge;
  }
}

memory_entry* s3fifo_policy::main_victim() {
  // Terminates: each pass over M lowers every counter, so within three passes one is at 0.
  while (memory_entry* tail = main_.back()) {
    const std::uint8_t hits = tail->policy_counter.load(std::memory_order_relaxed);
    if (hits == 0) return tail;
    tail->policy_counter.store(std::min(hits, counter_limit) - 1, std::memory_order_relaxed);
    main_.move_to_front(*tail);
  }
  return nullptr;
}

memory_entry* s3fifo_policy::victim() {
  if (main_weight_ > main_capacity_ || small_.empty()) return main_victim();
  while (memory_entry* tail = small_.back()) {
    if (tail->policy_counter.load(std::memory_order_relaxed) < move_to_main_hits) return tail;
    small_.remove(*tail);
    small_weight_ -= tail->charge;
    tail->policy_counter.store(0, std::memory_order_relaxed);
    push_main(*tail);
  }
  // Every entry of S had graduated to M.
  return main_victim();
}

}  // namespace larder
