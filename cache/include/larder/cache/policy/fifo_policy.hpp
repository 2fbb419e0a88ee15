// fifo_policy: evicts the entry inserted longest ago; hits change nothing.
//
// 1. Idea: one queue in insertion order. The seed's `cleanup_policy: "fifo"` for training data,
//    where each sample is consumed in turn and recency says little.
// 2. Cost: O(1) per operation; a hit does no work at all, so reads never write shared state.
// 3. Replacing a key's value (a put on an existing key) counts as a new insertion.
#pragma once

#include <larder/cache/policy/entry_list.hpp>
#include <larder/cache/policy/eviction_policy.hpp>

namespace larder {

class fifo_policy final : public eviction_policy {
 public:
  std::string_view name() const noexcept override { return "fifo"; }
  void on_insert(memory_entry& e) override { queue_.push_front(e); }
  void on_hit(memory_entry&) override {}
  hit_delivery hits() const noexcept override { return hit_delivery::none; }
  void on_erase(memory_entry& e, erase_reason) override { queue_.remove(e); }
  memory_entry* victim() override { return queue_.back(); }

 private:
  entry_list queue_;
};

}  // namespace larder
