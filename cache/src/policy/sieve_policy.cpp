#include "larder/cache/policy/sieve_policy.hpp"

namespace larder {

void sieve_policy::on_insert(memory_entry& e) {
  e.policy_counter.store(0, std::memory_order_relaxed);
  queue_.push_front(e);
}

void sieve_policy::on_erase(memory_entry& e, erase_reason) {
  // The hand moves on towards the head, as it does past an evicted entry.
  if (hand_ == &e) hand_ = e.prev;
  queue_.remove(e);
}

memory_entry* sieve_policy::victim() {
  if (queue_.empty()) return nullptr;
  memory_entry* e = hand_ != nullptr ? hand_ : queue_.back();
  // Terminates: every visited entry passed is cleared, so the second lap finds one unvisited.
  while (e->policy_counter.load(std::memory_order_relaxed) != 0) {
    e->policy_counter.store(0, std::memory_order_relaxed);
    e = e->prev != nullptr ? e->prev : queue_.back();
  }
  hand_ = e;  // on_erase(e) moves it to e's newer neighbour
  return e;
}

}  // namespace larder
