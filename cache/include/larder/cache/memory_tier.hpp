// memory_tier: the in-memory tier of a larder cache, a sharded hash table of blobs under a byte
// budget.
//
// 1. Sharding. A key's xxh3 hash picks its shard; each shard has its own hash map, eviction
//    policy and writer lock. A hit takes no lock: it announces itself in a per-thread reader
//    slot, finds the entry, records the hit for the policy in that slot, and copies out a blob
//    (a reference count bump). It allocates nothing and writes no cache line that another thread
//    writes, so reads scale with threads; writers apply the recorded hits before they evict, so
//    the policy's order stays exact (src/reader_slot.hpp has the scheme).
// 2. Budget. Every entry is charged its value bytes, its key bytes and entry_overhead_bytes
//    (or, for simulations, its value bytes only or 1: entry_weight). The budget is global, kept
//    in one atomic written only by puts and removals. A put that would take usage past
//    eviction_threshold x capacity (the high-water mark) first evicts, from its own shard and
//    then from the others in turn, until the new entry fits, and then inserts it: the new entry
//    is never the victim of its own insertion, which is the order the policies' papers and
//    cache simulators use. An entry whose charge alone exceeds the high-water mark is rejected.
//    Under concurrent puts, usage may pass the mark by the entries being inserted at that
//    moment, never for longer than their put calls.
//    Each shard's policy is told its share of the mark (eviction_policy::set_capacity), for
//    policies that divide the budget between queues.
// 3. max_items bounds the number of entries the same way (0: no bound).
// 4. Expiry. An entry put with a TTL is a miss once its time has come and is dropped when looked
//    up or purged; reading the clock is skipped for entries without a TTL.
// 5. Order. With one shard the eviction order is exactly the policy's; with several, each shard
//    follows its policy and the shards are drained in turn.
//
// Thread safety: every member function may be called concurrently from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include <larder/cache/blob.hpp>
#include <larder/cache/memory_entry.hpp>
#include <larder/cache/put_options.hpp>
#include <larder/config/cache_config.hpp>

namespace larder {

// What an entry weighs against capacity_bytes.
enum class entry_weight {
  // Key + value + entry_overhead_bytes: the memory the entry really takes. The default.
  footprint,
  // Value bytes only, as cache simulators count (larder replay).
  value_bytes,
  // 1 per entry: capacity_bytes becomes an entry count (larder replay --ignore-size).
  one,
};

struct memory_tier_options {
  // REQUIRES: capacity_bytes > 0.
  std::uint64_t capacity_bytes = 0;
  // In (0, 1]: the fraction of capacity_bytes that usage is kept under.
  double eviction_threshold = 1.0;
  std::uint64_t max_items = 0;
  memory_policy policy = memory_policy::lru;
  entry_weight weight = entry_weight::footprint;
  // 0 chooses from the capacity (one shard per 8 MiB, from 1 to 64); otherwise rounded up to a
  // power of two.
  std::size_t shards = 0;
  // Whether the lock-free read path counts hits and misses (in per-thread slots, design note 1).
  // false saves a thread-local store per get and leaves stats().hits and misses counting only
  // lookups that took a shard lock; for benchmarks measuring what counting costs.
  bool count_lookups = true;
  // Time source for expiry; empty means std::chrono::steady_clock. Tests set a manual clock.
  std::function<std::chrono::steady_clock::time_point()> clock;
  // Called for every entry evicted to make room (not for removals, replacements or expiry),
  // outside any lock, on the thread whose put evicted it: a cache admits them to its disk tier.
  // `expires_at` is the entry's expiry on `clock`, or time_point{} for none.
  std::function<void(std::string_view key, const blob& value,
                     std::chrono::steady_clock::time_point expires_at)>
      on_evict;

  // The memory settings of a configuration: memory.size, memory.type, memory.max_items and
  // eviction_threshold.
  static memory_tier_options from_config(const cache_config& config);
};

struct memory_tier_stats {
  std::uint64_t entries = 0;
  std::uint64_t bytes_used = 0;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t high_water_bytes = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t insertions = 0;
  std::uint64_t replacements = 0;
  std::uint64_t removals = 0;  // erase() calls that found the key
  // Entries evicted, by reason: to make room for a put; by evict_down_to() or set_capacity() (a
  // cleanup pass, a budget shrunk under memory pressure); their TTL reached; older than a
  // cleanup pass's max_age (remove_older_than).
  std::uint64_t evictions = 0;
  std::uint64_t cleanup_evictions = 0;
  std::uint64_t expirations = 0;
  std::uint64_t aged_out = 0;
  // Puts refused because the entry alone is larger than the high-water mark.
  std::uint64_t rejections = 0;

  double hit_rate() const noexcept {
    const auto lookups = hits + misses;
    return lookups == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(lookups);
  }
};

class memory_tier {
 public:
  // Per-entry bytes charged beyond key and value: the entry itself, its hash-map node and bucket
  // slot (about 64 bytes in libstdc++), and the blob's control block. An estimate of the real
  // footprint, so that many small entries cannot overrun the budget.
  static const std::size_t entry_overhead_bytes;

  explicit memory_tier(memory_tier_options options);
  ~memory_tier();
  memory_tier(const memory_tier&) = delete;
  memory_tier& operator=(const memory_tier&) = delete;

  // The value under key, or nullopt. A hit counts as an access for the eviction policy.
  std::optional<blob> get(std::string_view key);

  // The value under key, or nullopt, without counting a hit or miss or telling the policy: for a
  // second look after a miss that was already counted.
  std::optional<blob> peek(std::string_view key) const;

  // Stores value under key, replacing any previous value (unless options.keep_existing), then
  // evicts down to the budget. Returns false, storing nothing, when the entry alone exceeds the
  // high-water mark or keep_existing found the key present.
  bool put(std::string_view key, blob value, const put_options& options = {});

  // Removes key; returns whether it was there.
  bool erase(std::string_view key);

  // Whether key is present and unexpired. Not an access: the policy does not see it.
  bool contains(std::string_view key) const;

  void clear();

  // Drops every expired entry; returns how many.
  std::size_t purge_expired();

  // Drops every entry put more than max_age ago (counted as expirations); returns how many.
  std::size_t remove_older_than(std::chrono::nanoseconds max_age);

  // Evicts in the policy's order, as a put over budget would (on_evict sees each entry), until
  // usage is at most `bytes`; returns how many entries went.
  std::size_t evict_down_to(std::uint64_t bytes);

  // Admission: while a filter is set, a put of a key it rejects stores nothing and returns
  // false (a cache then keeps the value on disk only). DatasetCache sets one to keep a stable
  // subset of a dataset larger than memory resident, instead of letting random epoch order
  // thrash the tier. An empty function removes the filter. The filter may be called from any
  // thread, concurrently.
  using admission_filter = std::function<bool(std::string_view key)>;
  void set_admission_filter(admission_filter filter);

  // Changes the budget: the high-water mark becomes eviction_threshold x bytes, and entries are
  // evicted down to it at once. Used when the host runs short of memory. REQUIRES: bytes > 0.
  void set_capacity(std::uint64_t bytes);

  memory_tier_stats stats() const;

  std::size_t shard_count() const noexcept;
  memory_policy policy() const noexcept { return policy_kind_; }
  std::uint64_t capacity_bytes() const noexcept {
    return capacity_.load(std::memory_order_relaxed);
  }
  std::uint64_t high_water_bytes() const noexcept {
    return high_water_.load(std::memory_order_relaxed);
  }
  std::uint64_t bytes_used() const noexcept { return used_bytes_.load(std::memory_order_relaxed); }

  // What an entry of these sizes weighs with entry_weight::footprint.
  static std::uint64_t charge_for(std::size_t key_size, std::size_t value_size) noexcept;
  // What an entry of these sizes weighs in this tier.
  std::uint64_t weigh(std::size_t key_size, std::size_t value_size) const noexcept;

  // A slice of the tier; defined in memory_tier.cpp, named here only so that the source file's
  // helpers can refer to it.
  struct shard;

 private:
  std::int64_t now_ns() const;
  shard& shard_for(std::uint64_t hash) const noexcept;
  bool over_budget() const noexcept;
  // A counter of memory_tier_stats: the reason an entry left.
  using event_counter = std::uint64_t memory_tier_stats::*;
  // Removes every entry the predicate picks, counted in `reason`; returns how many.
  template <typename Predicate>
  std::size_t expire_where(Predicate doomed_entry, event_counter reason);
  // Evicts by policy, shard after shard from first_shard, while usage is above `bytes` or the
  // entry count above `items` (0: no bound); never `keep`. Counts each in `reason`. Returns the
  // entries evicted.
  std::size_t evict_until_within(std::size_t first_shard, const memory_entry* keep,
                                 std::uint64_t bytes, std::uint64_t items, event_counter reason);
  // Hands an evicted entry to on_evict, if set. Call without any lock held.
  void report_eviction(const memory_entry& victim) const;
  // Tells every shard's policy its share of the high-water mark.
  void share_budget_among_shards();

  // Atomic only so that set_capacity may run beside puts.
  std::atomic<std::shared_ptr<const admission_filter>> admission_;
  std::atomic<std::uint64_t> capacity_;
  std::atomic<std::uint64_t> high_water_;
  double eviction_threshold_;
  std::uint64_t max_items_;
  memory_policy policy_kind_;
  entry_weight weight_;
  bool count_lookups_;
  std::function<std::chrono::steady_clock::time_point()> clock_;
  std::function<void(std::string_view, const blob&, std::chrono::steady_clock::time_point)>
      on_evict_;
  std::size_t shard_mask_;
  std::unique_ptr<shard[]> shards_;
  std::atomic<std::uint64_t> used_bytes_{0};
  std::atomic<std::uint64_t> entry_count_{0};
};

}  // namespace larder
