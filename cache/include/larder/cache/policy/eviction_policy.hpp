// eviction_policy: decides which entry of a memory_tier shard leaves first.
//
// Each shard owns one policy object and calls it under the shard's lock, so implementations need
// no synchronisation of their own (except for hits, below). The shard tells the policy about
// every entry that enters, is hit, or leaves; the policy answers victim() with the entry to evict
// next. The contract:
//  - set_capacity(w): the shard's budget, in the tier's weight units (bytes by default; see
//    memory_tier_options::weight). Called before the first entry and whenever the budget changes.
//    Policies that size queues by it (s3fifo, wtinylfu) keep their queues to shares of it; the
//    shard, not the policy, enforces the budget.
//  - on_insert(e): e has just entered the shard. e.charge is its weight.
//  - on_hit(e): e was read. How the shard delivers hits depends on hit_delivery():
//      none      the order ignores hits (fifo): nobody calls on_hit.
//      in_entry  on_hit only raises e's atomic policy_counter, up to hit_counter_limit(): readers
//                do that themselves, without a lock and without calling the policy (s3fifo,
//                sieve). A hit lost to a race between two readers costs one count, nothing more.
//      deferred  on_hit reorders the policy's queues (lru, wtinylfu): readers record hits in
//                per-thread buffers, and the next writer applies them in order, under the lock,
//                before it inserts, erases or asks for a victim. Keep it O(1), no allocation.
//  - on_erase(e, why): e is leaving the shard; the policy must drop every reference to it. `why`
//    tells an eviction (the entry the policy chose) from a removal (erase, replacement, expiry,
//    clear), for policies that remember evicted keys (s3fifo's ghost queue).
//  - victim(): the entry to evict next, or nullptr when the policy tracks none. It does not remove
//    the entry (the shard calls on_erase(e, evicted) when it does) but may reorder the policy's
//    own state; the shard may still decide not to evict it (when it is the entry being inserted).
//    While the policy tracks any entry, victim() must return one: the budget depends on it.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include <larder/cache/memory_entry.hpp>
#include <larder/config/cache_config.hpp>

namespace larder {

enum class hit_delivery { none, in_entry, deferred };
enum class erase_reason { evicted, removed };

class eviction_policy {
 public:
  virtual ~eviction_policy() = default;
  virtual std::string_view name() const noexcept = 0;
  virtual hit_delivery hits() const noexcept { return hit_delivery::deferred; }
  // For hit_delivery::in_entry: the value policy_counter saturates at.
  virtual std::uint8_t hit_counter_limit() const noexcept { return 0; }
  virtual void set_capacity(std::uint64_t /*weight*/) {}
  virtual void on_insert(memory_entry& e) = 0;
  virtual void on_hit(memory_entry& e) = 0;
  virtual void on_erase(memory_entry& e, erase_reason why) = 0;
  virtual memory_entry* victim() = 0;
};

std::unique_ptr<eviction_policy> make_eviction_policy(memory_policy kind);

}  // namespace larder
