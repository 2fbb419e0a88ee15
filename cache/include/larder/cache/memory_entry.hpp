// memory_entry: one key and its value in a memory_tier shard.
//
// Layout, for the hit path. The first cache line holds the eviction policy's hooks (list links
// and a byte each for a queue id and a small counter), which the policy rewrites as entries move.
// The second holds what a lookup reads: hash, expiry and value; the key bytes follow the struct
// in the same allocation. A policy update therefore never dirties a line that another thread's
// lookup reads.
//
// Created by memory_entry::create() in one allocation with its key; owned by its shard through
// memory_entry::owner. Every field is guarded by the shard's write lock, and read by readers
// only while the shard has no writer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include <larder/cache/blob.hpp>

namespace larder {

struct alignas(64) memory_entry {
  struct deleter {
    void operator()(memory_entry* e) const noexcept;
  };
  using owner = std::unique_ptr<memory_entry, deleter>;

  // A new entry holding a copy of key. Throws std::bad_alloc, or std::length_error for a key of
  // 4 GiB or more.
  static owner create(std::string_view key, std::uint64_t hash, blob value);

  std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), key_size};
  }

  // Raises policy_counter by one, up to limit: a hit as s3fifo and sieve count it. Safe from any
  // number of reader threads at once (a race may lose a count); writes nothing once the counter
  // is at its limit, so a hot entry's line stays shared between the readers' caches.
  void count_hit(std::uint8_t limit) noexcept {
    const std::uint8_t c = policy_counter.load(std::memory_order_relaxed);
    if (c < limit) policy_counter.store(c + 1, std::memory_order_relaxed);
  }

  // Policy hooks (first cache line).
  memory_entry* prev = nullptr;
  memory_entry* next = nullptr;
  std::uint8_t policy_queue = 0;
  // Hit counter or visited bit of the policy; atomic because readers raise it without the lock
  // (hit_delivery::in_entry).
  std::atomic<std::uint8_t> policy_counter{0};
  // What the entry weighs against the budget: by default its value, key and per-entry overhead
  // bytes (memory_tier_options::weight).
  std::uint64_t charge = 0;
  // When it was put, on the tier's clock (steady nanoseconds): for age-based cleanup. Only
  // writers read it, so it lives on the policy's line, away from the lookup fields.
  std::int64_t inserted_at_ns = 0;

  // Lookup fields (second cache line), followed by the key bytes.
  alignas(64) std::uint64_t hash = 0;
  // Steady-clock nanoseconds since its epoch; 0 means the entry never expires.
  std::int64_t expires_at_ns = 0;
  blob value;
  std::uint32_t key_size = 0;

 private:
  memory_entry() = default;
  ~memory_entry() = default;
};

}  // namespace larder
