#include "larder/cache/memory_tier.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "larder/cache/eviction_policy.hpp"
#include "key_hash.hpp"

namespace larder {
namespace {

// A key as the shard maps see it: the bytes (owned by the entry) and their precomputed hash, so
// a lookup hashes the key once for both the shard choice and the map.
struct hashed_key {
  std::string_view key;
  std::uint64_t hash;
  friend bool operator==(const hashed_key& a, const hashed_key& b) noexcept {
    return a.hash == b.hash && a.key == b.key;
  }
};

struct hashed_key_hash {
  std::size_t operator()(const hashed_key& k) const noexcept { return k.hash; }
};

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

const std::size_t memory_tier::entry_overhead_bytes =
    sizeof(memory_entry) + 64 + sizeof(detail::blob_control);

// One slice of the tier. Aligned to a cache line so that two threads working on neighbouring
// shards do not share one.
struct alignas(64) memory_tier::shard {
  using entry_ptr = std::unique_ptr<memory_entry>;

  // Unlinks e from the map and the policy and hands ownership to the caller, who destroys it
  // after releasing the lock. REQUIRES: mu held, e in this shard.
  entry_ptr detach(memory_entry& e, memory_tier& tier) {
    policy->on_erase(e);
    map.erase(hashed_key{e.key, e.hash});
    tier.used_bytes_.fetch_sub(e.charge, std::memory_order_relaxed);
    tier.entry_count_.fetch_sub(1, std::memory_order_relaxed);
    return entry_ptr(&e);
  }

  memory_entry* find(std::string_view key, std::uint64_t hash) const {
    auto it = map.find(hashed_key{key, hash});
    return it == map.end() ? nullptr : it->second;
  }

  // mu protects every field below.
  mutable std::mutex mu;
  std::unordered_map<hashed_key, memory_entry*, hashed_key_hash> map;
  std::unique_ptr<eviction_policy> policy;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t insertions = 0;
  std::uint64_t replacements = 0;
  std::uint64_t removals = 0;
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;
  std::uint64_t rejections = 0;
};

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
      max_items_(options.max_items),
      policy_kind_(options.policy),
      clock_(std::move(options.clock)) {
  if (options.capacity_bytes == 0) {
    throw std::invalid_argument("memory_tier: capacity_bytes must be greater than zero");
  }
  if (!(options.eviction_threshold > 0.0 && options.eviction_threshold <= 1.0)) {
    throw std::invalid_argument("memory_tier: eviction_threshold must be in (0, 1]");
  }
  const std::size_t count = choose_shards(options);
  shard_mask_ = count - 1;
  shards_ = std::make_unique<shard[]>(count);
  for (std::size_t i = 0; i < count; ++i) shards_[i].policy = make_eviction_policy(policy_kind_);
}

memory_tier::~memory_tier() { clear(); }

std::size_t memory_tier::shard_count() const noexcept { return shard_mask_ + 1; }

std::uint64_t memory_tier::charge_for(std::size_t key_size, std::size_t value_size) noexcept {
  return key_size + value_size + entry_overhead_bytes;
}

std::int64_t memory_tier::now_ns() const {
  const auto now = clock_ ? clock_() : std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
}

memory_tier::shard& memory_tier::shard_for(std::uint64_t hash) const noexcept {
  // The top bits pick the shard; the map buckets use the low bits.
  return shards_[(hash >> 40) & shard_mask_];
}

bool memory_tier::over_budget() const noexcept {
  return used_bytes_.load(std::memory_order_relaxed) > high_water_ ||
         (max_items_ != 0 && entry_count_.load(std::memory_order_relaxed) > max_items_);
}

std::optional<blob> memory_tier::get(std::string_view key) {
  const std::uint64_t hash = hash_key(key);
  shard& s = shard_for(hash);
  shard::entry_ptr expired;  // destroyed after the lock is released
  std::lock_guard lock(s.mu);
  memory_entry* e = s.find(key, hash);
  if (e == nullptr) {
    ++s.misses;
    return std::nullopt;
  }
  if (e->expires_at_ns != 0 && now_ns() >= e->expires_at_ns) {
    expired = s.detach(*e, *this);
    ++s.expirations;
    ++s.misses;
    return std::nullopt;
  }
  ++s.hits;
  s.policy->on_hit(*e);
  return e->value;
}

std::optional<blob> memory_tier::peek(std::string_view key) const {
  const std::uint64_t hash = hash_key(key);
  const shard& s = shard_for(hash);
  std::lock_guard lock(s.mu);
  const memory_entry* e = s.find(key, hash);
  if (e == nullptr || (e->expires_at_ns != 0 && now_ns() >= e->expires_at_ns)) return std::nullopt;
  return e->value;
}

bool memory_tier::put(std::string_view key, blob value, const put_options& options) {
  const std::uint64_t hash = hash_key(key);
  const std::size_t shard_index = (hash >> 40) & shard_mask_;
  shard& s = shards_[shard_index];
  const std::uint64_t charge = charge_for(key.size(), value.size());
  if (charge > high_water_) {
    std::lock_guard lock(s.mu);
    ++s.rejections;
    return false;
  }
  // Allocate before taking the lock.
  auto entry = std::make_unique<memory_entry>();
  entry->hash = hash;
  entry->charge = charge;
  entry->key.assign(key);
  entry->value = std::move(value);
  if (options.ttl.count() > 0) entry->expires_at_ns = now_ns() + options.ttl.count();

  memory_entry* inserted = entry.get();
  shard::entry_ptr replaced;
  {
    std::lock_guard lock(s.mu);
    if (memory_entry* old = s.find(key, hash)) {
      replaced = s.detach(*old, *this);
      ++s.replacements;
    } else {
      ++s.insertions;
    }
    s.map.emplace(hashed_key{inserted->key, hash}, inserted);
    s.policy->on_insert(*entry.release());
    used_bytes_.fetch_add(charge, std::memory_order_relaxed);
    entry_count_.fetch_add(1, std::memory_order_relaxed);
  }
  replaced.reset();
  if (over_budget()) evict_to_fit(shard_index, inserted);
  return true;
}

void memory_tier::evict_to_fit(std::size_t first_shard, const memory_entry* keep) {
  const std::size_t count = shard_count();
  std::size_t index = first_shard;
  std::size_t fruitless = 0;  // shards in a row that had nothing to give
  while (over_budget() && fruitless < count) {
    shard& s = shards_[index];
    shard::entry_ptr victim;
    {
      std::lock_guard lock(s.mu);
      memory_entry* v = s.policy->victim();
      // The entry this put just inserted is not evicted to make room for itself; the next shard
      // gives way instead. (The pointer is only compared: it may have gone since.)
      if (v != nullptr && v != keep) {
        victim = s.detach(*v, *this);
        ++s.evictions;
      }
    }
    if (victim) {
      fruitless = 0;
    } else {
      ++fruitless;
      index = (index + 1) & shard_mask_;
    }
  }
}

bool memory_tier::erase(std::string_view key) {
  const std::uint64_t hash = hash_key(key);
  shard& s = shard_for(hash);
  shard::entry_ptr removed;
  std::lock_guard lock(s.mu);
  memory_entry* e = s.find(key, hash);
  if (e == nullptr) return false;
  removed = s.detach(*e, *this);
  ++s.removals;
  return true;
}

bool memory_tier::contains(std::string_view key) const { return peek(key).has_value(); }

void memory_tier::clear() {
  for (std::size_t i = 0; i < shard_count(); ++i) {
    shard& s = shards_[i];
    std::vector<shard::entry_ptr> doomed;
    {
      std::lock_guard lock(s.mu);
      doomed.reserve(s.map.size());
      while (memory_entry* e = s.policy->victim()) doomed.push_back(s.detach(*e, *this));
      s.removals += doomed.size();
    }
  }
}

std::size_t memory_tier::purge_expired() {
  const std::int64_t now = now_ns();
  std::size_t purged = 0;
  for (std::size_t i = 0; i < shard_count(); ++i) {
    shard& s = shards_[i];
    std::vector<shard::entry_ptr> doomed;
    {
      std::lock_guard lock(s.mu);
      std::vector<memory_entry*> expired;
      for (const auto& [k, e] : s.map) {
        if (e->expires_at_ns != 0 && now >= e->expires_at_ns) expired.push_back(e);
      }
      for (memory_entry* e : expired) doomed.push_back(s.detach(*e, *this));
      s.expirations += doomed.size();
    }
    purged += doomed.size();
  }
  return purged;
}

memory_tier_stats memory_tier::stats() const {
  memory_tier_stats out;
  out.capacity_bytes = capacity_;
  out.high_water_bytes = high_water_;
  for (std::size_t i = 0; i < shard_count(); ++i) {
    const shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    out.entries += s.map.size();
    out.hits += s.hits;
    out.misses += s.misses;
    out.insertions += s.insertions;
    out.replacements += s.replacements;
    out.removals += s.removals;
    out.evictions += s.evictions;
    out.expirations += s.expirations;
    out.rejections += s.rejections;
  }
  out.bytes_used = used_bytes_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace larder
