// s3fifo_policy: S3-FIFO (Yang et al., "FIFO Queues are All You Need for Cache Eviction",
// SOSP'23), following the authors' reference implementation in libCacheSim (S3FIFO.c).
//
// 1. Idea: most keys of real workloads are used once ("one-hit wonders"), so new entries go to a
//    small FIFO queue S that filters them out quickly; entries hit there graduate to a main FIFO
//    queue M; keys evicted from S are remembered, without values, in a ghost queue G, and come
//    back straight into M. Each entry has a 2-bit hit counter (policy_counter, limit 3).
//      insert: into M if G remembers the key, else into S; counter 0.
//      hit:    counter + 1, up to 3. Nothing moves.
//      evict:  from M if M is over its share or S is empty, else from S.
//        from S: the tail moves to M's head (counter reset) while its counter is >= 2; the first
//                tail below that is the victim, and its key goes to G.
//        from M: a tail with a counter above 0 goes back to the head with the counter less one
//                (2-bit CLOCK); the first tail at 0 is the victim.
// 2. Parameters (the paper's defaults): S is 10 % of the shard's budget, M the rest; G remembers
//    evicted keys weighing up to 90 % of the budget; an entry moves from S to M after 2 hits.
//    All shares are of weight (bytes, or entries with entry_weight::one), as libCacheSim counts.
// 3. Entries heavier than S's share go straight to M: in S they would flush the whole queue
//    (libCacheSim refuses them instead; a cache that refused a large tensor would surprise).
// 4. Cost: a hit is one relaxed store to the entry by the reader itself, without a lock, and none
//    once the counter is at 3 (hit_delivery::in_entry); queues are intrusive lists. G costs a
//    hash-map node per remembered key.
#pragma once

#include <cstdint>

#include <larder/cache/policy/entry_list.hpp>
#include <larder/cache/policy/eviction_policy.hpp>
#include <larder/cache/policy/ghost_queue.hpp>

namespace larder {

class s3fifo_policy final : public eviction_policy {
 public:
  static constexpr double small_share = 0.10;
  static constexpr double ghost_share = 0.90;
  static constexpr std::uint8_t move_to_main_hits = 2;
  static constexpr std::uint8_t counter_limit = 3;

  std::string_view name() const noexcept override { return "s3fifo"; }
  hit_delivery hits() const noexcept override { return hit_delivery::in_entry; }
  std::uint8_t hit_counter_limit() const noexcept override { return counter_limit; }
  void set_capacity(std::uint64_t weight) override;
  void on_insert(memory_entry& e) override;
  void on_hit(memory_entry& e) override { e.count_hit(counter_limit); }
  void on_erase(memory_entry& e, erase_reason why) override;
  memory_entry* victim() override;

  // For tests and diagnostics.
  std::uint64_t small_weight() const noexcept { return small_weight_; }
  std::uint64_t main_weight() const noexcept { return main_weight_; }
  const ghost_queue& ghosts() const noexcept { return ghost_; }

 private:
  enum queue_id : std::uint8_t { in_small = 0, in_main = 1 };
  void push_main(memory_entry& e);
  memory_entry* main_victim();

  entry_list small_;  // front: newest
  entry_list main_;
  std::uint64_t small_weight_ = 0;
  std::uint64_t main_weight_ = 0;
  std::uint64_t small_capacity_ = 0;
  std::uint64_t main_capacity_ = 0;
  ghost_queue ghost_;
};

}  // namespace larder
