// sieve_policy: SIEVE (Zhang et al., "SIEVE is Simpler than LRU: an Efficient Turn-Key Eviction
// Algorithm for Web Caches", NSDI'24).
//
// 1. Idea: one FIFO queue and a "hand". New entries enter at the head, unvisited. A hit only
//    sets the entry's visited bit. To evict, the hand walks from where it last stopped towards
//    the head (starting at the tail, wrapping from the head back to the tail), clearing visited
//    bits as it passes, and evicts the first unvisited entry; it then rests on that entry's
//    newer neighbour. Survivors stay in place (unlike CLOCK, which moves them to the head), so
//    new entries sit apart from old popular ones and one-hit wonders leave quickly ("lazy
//    promotion, quick demotion").
// 2. Parameters: none. The visited bit is policy_counter (limit 1).
// 3. Cost: a hit is one relaxed store to the entry, made by the reader itself without a lock
//    (hit_delivery::in_entry), and nothing once the bit is set; eviction is O(1) amortised.
// 4. Sizes: the paper's algorithm is by count; with variable sizes the shard simply asks for
//    victims until its budget is met, as libCacheSim does.
#pragma once

#include <larder/cache/policy/entry_list.hpp>
#include <larder/cache/policy/eviction_policy.hpp>

namespace larder {

class sieve_policy final : public eviction_policy {
 public:
  std::string_view name() const noexcept override { return "sieve"; }
  hit_delivery hits() const noexcept override { return hit_delivery::in_entry; }
  std::uint8_t hit_counter_limit() const noexcept override { return 1; }
  void on_insert(memory_entry& e) override;
  void on_hit(memory_entry& e) override { e.count_hit(1); }
  void on_erase(memory_entry& e, erase_reason why) override;
  memory_entry* victim() override;

 private:
  entry_list queue_;  // front: newest
  // The next entry the hand examines; nullptr means start again from the tail.
  memory_entry* hand_ = nullptr;
};

}  // namespace larder
