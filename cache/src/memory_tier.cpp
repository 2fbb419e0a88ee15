#include "larder/cache/memory_tier.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "entry_table.hpp"
#include "key_hash.hpp"
#include "larder/cache/policy/eviction_policy.hpp"
#include "reader_slot.hpp"

namespace larder {
namespace {

// 8 MiB per shard: enough shards for two threads to rarely collide on a large tier, few enough
// that a small tier keeps a near-exact global order. Chosen by judgement, not measured yet.
constexpr std::uint64_t bytes_per_default_shard = 8ull << 20;
constexpr std::size_t max_default_shards = 64;

std::size_t choose_shards(const memory_tier_options& options) {
  if (options.shards != 0) return std::bit_ceil(options.shards);
  const auto wanted = std::clamp<std::uint64_t>(options.capacity_bytes / bytes_per_default_shard, 1,
                                                max_default_shards);
  return std::bit_floor(static_cast<std::size_t>(wanted));
}

}  // namespace

// The entry (two cache lines), its table slot at the table's worst load (16 B / 0.375 after a
// doubling), and the value's control block.
const std::size_t memory_tier::entry_overhead_bytes =
    sizeof(memory_entry) + 43 + sizeof(detail::blob_control);

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// One slice of the tier: an entry table and a policy, read under reader slots and changed under a
// shard_write_lock (see reader_slot.hpp for the scheme).
struct memory_tier::shard {
  using entry_ptr = memory_entry::owner;

  // Unlinks e from the table and the policy and hands ownership to the caller, who destroys it
  // after releasing the lock. REQUIRES: write lock held, e in this shard.
  entry_ptr detach(memory_entry& e, memory_tier& tier, erase_reason why) {
    policy->on_erase(e, why);
    table.erase(&e);
    tier.used_bytes_.fetch_sub(e.charge, std::memory_order_relaxed);
    tier.entry_count_.fetch_sub(1, std::memory_order_relaxed);
    return entry_ptr(&e);
  }

  // REQUIRES: a reader slot or the write lock held.
  memory_entry* find(std::string_view key, std::uint64_t hash) const {
    return table.find(key, hash);
  }

  // Applies, oldest first, the hits readers buffered since the last writer.
  // REQUIRES: write lock held.
  void drain_hits() {
    constexpr std::uint32_t capacity = detail::hit_buffer_capacity;
    for (auto& slot : slots) {
      const std::uint32_t n = slot.buffered.load(std::memory_order_relaxed);
      for (std::uint32_t i = n > capacity ? n - capacity : 0; i < n; ++i) {
        policy->on_hit(*slot.recent[i % capacity].load(std::memory_order_relaxed));
      }
      slot.buffered.store(0, std::memory_order_relaxed);
    }
  }

  std::array<detail::reader_slot, detail::reader_slot_count> slots;

  // Read by every reader, written only by writers: on a line of its own so that readers keep it
  // shared in their caches.
  alignas(64) std::atomic<bool> writing{false};

  // mu serialises writers; it and `writing` protect every field below.
  alignas(64) std::mutex mu;
  detail::entry_table table;
  std::unique_ptr<eviction_policy> policy;
  // The policy's hit_delivery() and hit_counter_limit(), read by every reader.
  hit_delivery hits = hit_delivery::deferred;
  std::uint8_t hit_limit = 0;
  // The event counters of this shard (hits and misses of the locked path only: the read path
  // counts in its slot); the size fields stay zero.
  memory_tier_stats counts;
};

namespace {

// Exclusive access to a shard: writers excluded by the mutex, readers by `writing` and a wait
// for every slot to empty. Buffered hits are applied before the holder sees the policy.
class shard_write_lock {
 public:
  explicit shard_write_lock(memory_tier::shard& s) : shard_(s) {
    shard_.mu.lock();
    shard_.writing.store(true, std::memory_order_seq_cst);
    for (auto& slot : shard_.slots) {
      // Readers hold a slot for a lookup and a copy: a handful of nanoseconds, unless the thread
      // is descheduled, in which case we give our time slice away.
      for (int spins = 0; slot.readers.load(std::memory_order_seq_cst) != 0; ++spins) {
        if (spins < 128) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
    if (shard_.hits == hit_delivery::deferred) shard_.drain_hits();
  }
  ~shard_write_lock() {
    shard_.writing.store(false, std::memory_order_release);
    shard_.mu.unlock();
  }
  shard_write_lock(const shard_write_lock&) = delete;
  shard_write_lock& operator=(const shard_write_lock&) = delete;

 private:
  memory_tier::shard& shard_;
};

// Holds a reader slot of a shard for one lookup. active() is false when the caller must take the
// write lock instead: no slot for this thread, or a writer at work.
class shard_read_section {
 public:
  explicit shard_read_section(memory_tier::shard& s) {
    const auto index = detail::this_thread_reader_slot();
    if (!index) return;
    slot_ = &s.slots[*index];
    slot_->readers.store(1, std::memory_order_seq_cst);
    if (s.writing.load(std::memory_order_seq_cst)) leave();
  }
  ~shard_read_section() { leave(); }
  shard_read_section(const shard_read_section&) = delete;
  shard_read_section& operator=(const shard_read_section&) = delete;

  bool active() const noexcept { return slot_ != nullptr; }
  detail::reader_slot& slot() const noexcept { return *slot_; }

  // Counters of a slot have one writer, its owner: plain increments suffice.
  static void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  void leave() noexcept {
    if (slot_ != nullptr) slot_->readers.store(0, std::memory_order_release);
    slot_ = nullptr;
  }

 private:
  detail::reader_slot* slot_ = nullptr;
};

}  // namespace

memory_tier_options memory_tier_options::from_config(const cache_config& config) {
  memory_tier_options options;
  options.capacity_bytes = config.memory.size_bytes;
  options.eviction_threshold = config.eviction_threshold;
  options.max_items = config.memory.max_items;
  options.policy = config.memory.policy;
  return options;
}

memory_tier::memory_tier(memory_tier_options options)
    : capacity_(options.capacity_bytes),
      high_water_(static_cast<std::uint64_t>(static_cast<double>(options.capacity_bytes) *
                                             options.eviction_threshold)),
      eviction_threshold_(options.eviction_threshold),
      max_items_(options.max_items),
      policy_kind_(options.policy),
      weight_(options.weight),
      count_lookups_(options.count_lookups),
      clock_(std::move(options.clock)),
      on_evict_(std::move(options.on_evict)) {
  if (options.capacity_bytes == 0) {
    throw std::invalid_argument("memory_tier: capacity_bytes must be greater than zero");
  }
  if (!(options.eviction_threshold > 0.0 && options.eviction_threshold <= 1.0)) {
    throw std::invalid_argument("memory_tier: eviction_threshold must be in (0, 1]");
  }
  const std::size_t count = choose_shards(options);
  shard_mask_ = count - 1;
  shards_ = std::make_unique<shard[]>(count);
  for (std::size_t i = 0; i < count; ++i) {
    shards_[i].policy = make_eviction_policy(policy_kind_);
    shards_[i].hits = shards_[i].policy->hits();
    shards_[i].hit_limit = shards_[i].policy->hit_counter_limit();
  }
  share_budget_among_shards();
}

void memory_tier::share_budget_among_shards() {
  const std::uint64_t share =
      std::max<std::uint64_t>(1, high_water_.load(std::memory_order_relaxed) / shard_count());
  for (std::size_t i = 0; i < shard_count(); ++i) {
    shard_write_lock lock(shards_[i]);
    shards_[i].policy->set_capacity(share);
  }
}

memory_tier::~memory_tier() {
  clear();
}

std::size_t memory_tier::shard_count() const noexcept {
  return shard_mask_ + 1;
}

std::uint64_t memory_tier::charge_for(std::size_t key_size, std::size_t value_size) noexcept {
  return key_size + value_size + entry_overhead_bytes;
}

std::uint64_t memory_tier::weigh(std::size_t key_size, std::size_t value_size) const noexcept {
  switch (weight_) {
    case entry_weight::value_bytes:
      return value_size;
    case entry_weight::one:
      return 1;
    case entry_weight::footprint:
      break;
  }
  return charge_for(key_size, value_size);
}

std::int64_t memory_tier::now_ns() const {
  const auto now = clock_ ? clock_() : std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
}

memory_tier::shard& memory_tier::shard_for(std::uint64_t hash) const noexcept {
  // The top bits pick the shard; the entry table probes from the low bits.
  return shards_[(hash >> 40) & shard_mask_];
}

bool memory_tier::over_budget() const noexcept {
  return used_bytes_.load(std::memory_order_relaxed) >
             high_water_.load(std::memory_order_relaxed) ||
         (max_items_ != 0 && entry_count_.load(std::memory_order_relaxed) > max_items_);
}

std::optional<blob> memory_tier::get(std::string_view key) {
  const std::uint64_t hash = hash_key(key);
  shard& s = shard_for(hash);
  {
    shard_read_section reader(s);
    if (reader.active()) {
      memory_entry* e = s.find(key, hash);
      if (e == nullptr) {
        if (count_lookups_) shard_read_section::bump(reader.slot().misses);
        return std::nullopt;
      }
      // An expired entry must be removed, which needs the write lock.
      if (e->expires_at_ns == 0 || now_ns() < e->expires_at_ns) {
        detail::reader_slot& slot = reader.slot();
        if (s.hits == hit_delivery::in_entry) {
          e->count_hit(s.hit_limit);
        } else if (s.hits == hit_delivery::deferred) {
          const std::uint32_t n = slot.buffered.load(std::memory_order_relaxed);
          slot.recent[n % detail::hit_buffer_capacity].store(e, std::memory_order_relaxed);
          slot.buffered.store(n + 1, std::memory_order_relaxed);
        }
        if (count_lookups_) shard_read_section::bump(slot.hits);
        return e->value;
      }
    }
  }
  shard::entry_ptr expired;  // destroyed after the lock is released
  shard_write_lock lock(s);
  memory_entry* e = s.find(key, hash);
  if (e == nullptr) {
    ++s.counts.misses;
    return std::nullopt;
  }
  if (e->expires_at_ns != 0 && now_ns() >= e->expires_at_ns) {
    expired = s.detach(*e, *this, erase_reason::removed);
    ++s.counts.expirations;
    ++s.counts.misses;
    return std::nullopt;
  }
  ++s.counts.hits;
  if (s.hits != hit_delivery::none) s.policy->on_hit(*e);
  return e->value;
}

std::optional<blob> memory_tier::peek(std::string_view key) const {
  const std::uint64_t hash = hash_key(key);
  shard& s = shard_for(hash);
  auto visible = [&](const memory_entry* e) -> std::optional<blob> {
    if (e == nullptr || (e->expires_at_ns != 0 && now_ns() >= e->expires_at_ns)) {
      return std::nullopt;
    }
    return e->value;
  };
  {
    shard_read_section reader(s);
    if (reader.active()) return visible(s.find(key, hash));
  }
  shard_write_lock lock(s);
  return visible(s.find(key, hash));
}

bool memory_tier::put(std::string_view key, blob value, const put_options& options) {
  const std::uint64_t hash = hash_key(key);
  const std::size_t shard_index = (hash >> 40) & shard_mask_;
  shard& s = shards_[shard_index];
  const std::uint64_t charge = weigh(key.size(), value.size());
  if (charge > high_water_.load(std::memory_order_relaxed)) {
    shard_write_lock lock(s);
    ++s.counts.rejections;
    return false;
  }
  if (const auto admit = admission_.load(std::memory_order_acquire); admit && !(*admit)(key)) {
    return false;
  }
  // Allocate before taking the lock.
  auto entry = memory_entry::create(key, hash, std::move(value));
  entry->charge = charge;
  const std::int64_t now = now_ns();
  entry->inserted_at_ns = now;
  if (options.ttl.count() > 0) {
    // Saturate: a TTL too long to represent never expires in practice.
    const std::int64_t limit = std::numeric_limits<std::int64_t>::max();
    entry->expires_at_ns = options.ttl.count() > limit - now ? limit : now + options.ttl.count();
  }

  memory_entry* inserted = entry.get();
  shard::entry_ptr replaced;
  // Usually one or two: kept on the stack.
  boost::container::small_vector<shard::entry_ptr, 8> evicted;
  {
    shard_write_lock lock(s);
    if (memory_entry* old = s.find(key, hash)) {
      if (options.keep_existing) return false;
      replaced = s.detach(*old, *this, erase_reason::removed);
      ++s.counts.replacements;
    } else {
      ++s.counts.insertions;
    }
    // Make room before inserting, in this shard and under the same lock: the new entry is never
    // its own victim, and a put takes one lock in the common case.
    const std::uint64_t high_water = high_water_.load(std::memory_order_relaxed);
    while (used_bytes_.load(std::memory_order_relaxed) + charge > high_water ||
           (max_items_ != 0 && entry_count_.load(std::memory_order_relaxed) >= max_items_)) {
      memory_entry* v = s.policy->victim();
      if (v == nullptr) break;
      evicted.push_back(s.detach(*v, *this, erase_reason::evicted));
      ++s.counts.evictions;
    }
    s.table.insert(inserted);
    s.policy->on_insert(*entry.release());
    used_bytes_.fetch_add(charge, std::memory_order_relaxed);
    entry_count_.fetch_add(1, std::memory_order_relaxed);
  }
  replaced.reset();
  for (const auto& victim : evicted)
    report_eviction(*victim);
  evicted.clear();
  // Room this shard could not give, or that concurrent puts took: from the other shards.
  if (over_budget()) {
    evict_until_within(shard_index, inserted, high_water_.load(std::memory_order_relaxed),
                       max_items_, &memory_tier_stats::evictions);
  }
  return true;
}

void memory_tier::report_eviction(const memory_entry& victim) const {
  if (!on_evict_) return;
  const std::chrono::steady_clock::time_point expires_at{
      std::chrono::nanoseconds(victim.expires_at_ns)};
  on_evict_(victim.key(), victim.value,
            victim.expires_at_ns == 0 ? std::chrono::steady_clock::time_point{} : expires_at);
}

std::size_t memory_tier::evict_until_within(std::size_t first_shard, const memory_entry* keep,
                                            std::uint64_t bytes, std::uint64_t items,
                                            event_counter reason) {
  const std::size_t count = shard_count();
  std::size_t index = first_shard;
  std::size_t fruitless = 0;  // shards in a row that had nothing to give
  std::size_t evicted = 0;
  auto above = [&] {
    return used_bytes_.load(std::memory_order_relaxed) > bytes ||
           (items != 0 && entry_count_.load(std::memory_order_relaxed) > items);
  };
  while (above() && fruitless < count) {
    shard& s = shards_[index];
    shard::entry_ptr victim;
    {
      shard_write_lock lock(s);
      memory_entry* v = s.policy->victim();
      // The entry this put just inserted is not evicted to make room for itself; the next shard
      // gives way instead. (The pointer is only compared: it may have gone since.)
      if (v != nullptr && v != keep) {
        victim = s.detach(*v, *this, erase_reason::evicted);
        ++(s.counts.*reason);
      }
    }
    if (victim) {
      report_eviction(*victim);
      ++evicted;
      fruitless = 0;
    } else {
      ++fruitless;
      index = (index + 1) & shard_mask_;
    }
  }
  return evicted;
}

void memory_tier::set_admission_filter(admission_filter filter) {
  admission_.store(filter ? std::make_shared<const admission_filter>(std::move(filter)) : nullptr,
                   std::memory_order_release);
}

std::size_t memory_tier::evict_down_to(std::uint64_t bytes) {
  return evict_until_within(0, nullptr, bytes, max_items_, &memory_tier_stats::cleanup_evictions);
}

void memory_tier::set_capacity(std::uint64_t bytes) {
  if (bytes == 0) throw std::invalid_argument("memory_tier: capacity must be greater than zero");
  capacity_.store(bytes, std::memory_order_relaxed);
  const auto high_water =
      static_cast<std::uint64_t>(static_cast<double>(bytes) * eviction_threshold_);
  high_water_.store(high_water, std::memory_order_relaxed);
  share_budget_among_shards();
  evict_until_within(0, nullptr, high_water, max_items_, &memory_tier_stats::cleanup_evictions);
}

bool memory_tier::erase(std::string_view key) {
  const std::uint64_t hash = hash_key(key);
  shard& s = shard_for(hash);
  shard::entry_ptr removed;
  shard_write_lock lock(s);
  memory_entry* e = s.find(key, hash);
  if (e == nullptr) return false;
  removed = s.detach(*e, *this, erase_reason::removed);
  ++s.counts.removals;
  return true;
}

bool memory_tier::contains(std::string_view key) const {
  return peek(key).has_value();
}

void memory_tier::clear() {
  for (std::size_t i = 0; i < shard_count(); ++i) {
    shard& s = shards_[i];
    std::vector<shard::entry_ptr> doomed;
    {
      shard_write_lock lock(s);
      doomed.reserve(s.table.size());
      while (memory_entry* e = s.policy->victim())
        doomed.push_back(s.detach(*e, *this, erase_reason::removed));
      s.counts.removals += doomed.size();
    }
  }
}

template <typename Predicate>
std::size_t memory_tier::expire_where(Predicate doomed_entry, event_counter reason) {
  std::size_t removed = 0;
  for (std::size_t i = 0; i < shard_count(); ++i) {
    shard& s = shards_[i];
    std::vector<shard::entry_ptr> doomed;
    {
      shard_write_lock lock(s);
      std::vector<memory_entry*> matching;
      s.table.for_each([&](memory_entry* e) {
        if (doomed_entry(*e)) matching.push_back(e);
      });
      for (memory_entry* e : matching)
        doomed.push_back(s.detach(*e, *this, erase_reason::removed));
      s.counts.*reason += doomed.size();
    }
    removed += doomed.size();
  }
  return removed;
}

std::size_t memory_tier::remove_older_than(std::chrono::nanoseconds max_age) {
  const std::int64_t cutoff = now_ns() - max_age.count();
  return expire_where([cutoff](const memory_entry& e) { return e.inserted_at_ns < cutoff; },
                      &memory_tier_stats::aged_out);
}

std::size_t memory_tier::purge_expired() {
  const std::int64_t now = now_ns();
  return expire_where(
      [now](const memory_entry& e) { return e.expires_at_ns != 0 && now >= e.expires_at_ns; },
      &memory_tier_stats::expirations);
}

memory_tier_stats memory_tier::stats() const {
  memory_tier_stats out;
  out.capacity_bytes = capacity_bytes();
  out.high_water_bytes = high_water_bytes();
  for (std::size_t i = 0; i < shard_count(); ++i) {
    shard& s = shards_[i];
    shard_write_lock lock(s);
    out.entries += s.table.size();
    const memory_tier_stats& c = s.counts;
    out.hits += c.hits;
    out.misses += c.misses;
    out.insertions += c.insertions;
    out.replacements += c.replacements;
    out.removals += c.removals;
    out.evictions += c.evictions;
    out.cleanup_evictions += c.cleanup_evictions;
    out.expirations += c.expirations;
    out.aged_out += c.aged_out;
    out.rejections += c.rejections;
    for (const auto& slot : s.slots) {
      out.hits += slot.hits.load(std::memory_order_relaxed);
      out.misses += slot.misses.load(std::memory_order_relaxed);
    }
  }
  out.bytes_used = used_bytes_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace larder
