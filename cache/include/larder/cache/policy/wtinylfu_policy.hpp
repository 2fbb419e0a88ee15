// wtinylfu_policy: W-TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
// Admission Policy", ACM ToS 2017), as Caffeine implements it, without Caffeine's adaptive
// window sizing.
//
// 1. Idea: recency and frequency, each where it pays. New entries enter a small LRU "window";
//    the rest of the budget is a segmented LRU "main" (probation and protected). An entry pushed
//    out of the window becomes a candidate for main and must beat main's own victim (probation's
//    least recent entry) on estimated access frequency, counted by a frequency_sketch (count-min
//    sketch with a doorkeeper, aging by halving): the more frequent one stays, the other is
//    evicted (ties keep the incumbent). So a burst of new keys cannot flush a frequently used
//    working set, while the window still gives new keys a chance to prove themselves.
//      insert: into the window's head; counted in the sketch. Window entries beyond its share
//              move to probation's head as candidates for main.
//      hit:    counted; window: to its head; probation: promoted to protected's head (protected's
//              least recent entries step down to probation when it is over its share);
//              protected: to its head.
//      evict:  the oldest candidate not yet judged duels probation's tail and the loser is the
//              victim. Without candidates, probation's tail goes (protected's tail when
//              probation is empty, the window's when main is). Candidates that were not judged
//              before the next insertion stay: there was room for them.
//    The shard evicts before it inserts, so a candidate moved by one insertion is judged when the
//    next one needs room: the same duels Caffeine runs just after an insertion, one step later.
// 2. Parameters (Caffeine's defaults): window 1 % of the shard's budget, main 99 %, of which
//    protected is 80 %. The sketch is sized to the entries the shard holds (grown by doubling,
//    which restarts its counts, as Caffeine's does) and ages every 10 x that many accesses.
// 3. Cost: hits reorder lists, so they are recorded by readers and applied by the next writer
//    (hit_delivery::deferred), like LRU; the sketch adds about 3 bytes per entry.
#pragma once

#include <cstdint>

#include <larder/cache/policy/entry_list.hpp>
#include <larder/cache/policy/eviction_policy.hpp>
#include <larder/cache/policy/frequency_sketch.hpp>

namespace larder {

class wtinylfu_policy final : public eviction_policy {
 public:
  static constexpr double window_share = 0.01;
  static constexpr double protected_share_of_main = 0.80;

  wtinylfu_policy();
  std::string_view name() const noexcept override { return "wtinylfu"; }
  void set_capacity(std::uint64_t weight) override;
  void on_insert(memory_entry& e) override;
  void on_hit(memory_entry& e) override;
  void on_erase(memory_entry& e, erase_reason why) override;
  memory_entry* victim() override;

  // For tests and diagnostics.
  const frequency_sketch& sketch() const noexcept { return sketch_; }
  std::uint64_t window_weight() const noexcept { return weight_[window]; }
  std::uint64_t probation_weight() const noexcept { return weight_[probation]; }
  std::uint64_t protected_weight() const noexcept { return weight_[protected_segment]; }

 private:
  enum queue_id : std::uint8_t { window = 0, probation = 1, protected_segment = 2 };
  void push(queue_id q, memory_entry& e);
  void unlink(memory_entry& e);
  void move_window_overflow();

  entry_list queues_[3];  // front: most recent
  std::uint64_t weight_[3] = {0, 0, 0};
  std::uint64_t window_capacity_ = 1;
  std::uint64_t protected_capacity_ = 0;
  std::uint64_t entries_ = 0;
  frequency_sketch sketch_;
  // The oldest window entry moved to probation by the last insertion and not yet judged, and how
  // many of those moved entries (it and its newer neighbours) are still to be judged.
  memory_entry* candidate_ = nullptr;
  std::uint64_t candidates_left_ = 0;
};

}  // namespace larder
