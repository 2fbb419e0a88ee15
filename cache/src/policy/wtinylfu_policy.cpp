#include "larder/cache/policy/wtinylfu_policy.hpp"

#include <algorithm>

namespace larder {
namespace {

constexpr std::uint64_t initial_sketch_entries = 1024;

std::uint64_t share_of(std::uint64_t weight, double share) {
  return static_cast<std::uint64_t>(static_cast<double>(weight) * share);
}

}  // namespace

wtinylfu_policy::wtinylfu_policy() {
  sketch_.resize(initial_sketch_entries);
}

void wtinylfu_policy::set_capacity(std::uint64_t weight) {
  window_capacity_ = std::max<std::uint64_t>(1, share_of(weight, window_share));
  const std::uint64_t main = weight > window_capacity_ ? weight - window_capacity_ : 0;
  protected_capacity_ = share_of(main, protected_share_of_main);
}

void wtinylfu_policy::push(queue_id q, memory_entry& e) {
  e.policy_queue = q;
  queues_[q].push_front(e);
  weight_[q] += e.charge;
}

void wtinylfu_policy::unlink(memory_entry& e) {
  // The next candidate is the one moved after this one: its newer neighbour in probation.
  if (candidate_ == &e) candidate_ = --candidates_left_ > 0 ? e.prev : nullptr;
  queues_[e.policy_queue].remove(e);
  weight_[e.policy_queue] -= e.charge;
}

void wtinylfu_policy::on_insert(memory_entry& e) {
  // Grow the sketch with the shard, so its counters stay sparse enough to tell keys apart.
  if (++entries_ > sketch_.sized_for()) sketch_.resize(2 * sketch_.sized_for());
  sketch_.record(e.hash);
  push(window, e);
  // Candidates not judged by now were admitted: there was room for them.
  candidate_ = nullptr;
  candidates_left_ = 0;
  move_window_overflow();
}

void wtinylfu_policy::move_window_overflow() {
  while (weight_[window] > window_capacity_ && !queues_[window].empty()) {
    memory_entry& moved = *queues_[window].back();
    unlink(moved);
    push(probation, moved);
    if (candidate_ == nullptr) candidate_ = &moved;
    ++candidates_left_;
  }
}

void wtinylfu_policy::on_hit(memory_entry& e) {
  sketch_.record(e.hash);
  switch (e.policy_queue) {
    case window:
    case protected_segment:
      queues_[e.policy_queue].move_to_front(e);
      break;
    case probation:
      unlink(e);
      push(protected_segment, e);
      while (weight_[protected_segment] > protected_capacity_ &&
             queues_[protected_segment].size() > 1) {
        memory_entry& demoted = *queues_[protected_segment].back();
        unlink(demoted);
        push(probation, demoted);
      }
      break;
  }
}

void wtinylfu_policy::on_erase(memory_entry& e, erase_reason) {
  unlink(e);
  --entries_;
}

memory_entry* wtinylfu_policy::victim() {
  move_window_overflow();  // in case the budget shrank
  memory_entry* incumbent = queues_[probation].back();
  if (incumbent == nullptr) incumbent = queues_[protected_segment].back();
  if (incumbent == nullptr) return queues_[window].back();
  if (candidate_ == nullptr || candidate_ == incumbent) return incumbent;
  // The duel: the candidate gets in only if it is strictly more frequent.
  return sketch_.estimate(candidate_->hash) > sketch_.estimate(incumbent->hash) ? incumbent
                                                                                : candidate_;
}

}  // namespace larder
