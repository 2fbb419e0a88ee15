// lru_policy: evicts the least recently used entry.
//
// 1. Idea: one queue ordered by last access; a hit moves the entry to the front, the victim is at
//    the back. The classic policy, and the seed's default (`type: "lru"`).
// 2. Cost: O(1) per operation through the entries' own list links; no allocation.
// 3. Caveat: a scan or a per-epoch random order of a dataset larger than the cache flushes it
//    (every entry is used once per epoch, after all the others). The training profile and the
//    better policies of later work exist for that reason.
#pragma once

#include <larder/cache/policy/entry_list.hpp>
#include <larder/cache/policy/eviction_policy.hpp>

namespace larder {

class lru_policy final : public eviction_policy {
 public:
  std::string_view name() const noexcept override { return "lru"; }
  void on_insert(memory_entry& e) override { queue_.push_front(e); }
  void on_hit(memory_entry& e) override { queue_.move_to_front(e); }
  void on_erase(memory_entry& e, erase_reason) override { queue_.remove(e); }
  memory_entry* victim() override { return queue_.back(); }

 private:
  entry_list queue_;
};

}  // namespace larder
