// eviction_policy: decides which entry of a memory_tier shard leaves first.
//
// Each shard owns one policy object and calls it under the shard's lock, so implementations need
// no synchronisation of their own. The shard tells the policy about every entry that enters,
// is hit, or leaves; the policy answers victim() with the entry to evict next. The contract:
//  - on_insert(e): e has just entered the shard.
//  - on_hit(e): e was read. Hits are recorded by readers and applied in order by the next writer
//    of the shard, before it inserts, erases or asks for a victim. Keep it O(1), no allocation.
//  - on_erase(e): e is leaving the shard, whether evicted, expired, replaced or removed; the
//    policy must drop every reference to it.
//  - victim(): the entry to evict next, or nullptr when the policy tracks none. It does not remove
//    the entry (the shard calls on_erase() when it does) but may reorder the policy's own state.
#pragma once

#include <memory>
#include <string_view>

#include <larder/cache/memory_entry.hpp>
#include <larder/config/cache_config.hpp>

namespace larder {

class eviction_policy {
 public:
  virtual ~eviction_policy() = default;
  virtual std::string_view name() const noexcept = 0;
  virtual void on_insert(memory_entry& e) = 0;
  virtual void on_hit(memory_entry& e) = 0;
  // False for policies whose order ignores hits: the tier then skips recording them.
  virtual bool observes_hits() const noexcept { return true; }
  virtual void on_erase(memory_entry& e) = 0;
  virtual memory_entry* victim() = 0;
};

std::unique_ptr<eviction_policy> make_eviction_policy(memory_policy kind);

}  // namespace larder
