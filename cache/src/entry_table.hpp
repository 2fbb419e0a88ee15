// entry_table: a shard's index from key to entry.
//
// 1. Open addressing with linear probing over 16-byte slots (hash, entry pointer), so a lookup
//    reads one slot line and then the entry itself; the stored hash settles most mismatches
//    without touching the entry, and the full key (inline in the entry) settles the rest.
// 2. Deletion shifts the following run back (no tombstones), so probe lengths stay short under
//    the constant churn of a cache.
// 3. Grows by doubling when an insertion would pass 3/4 full: linear probing's expected probe
//    count stays below 2.5 for hits at that load (Knuth's analysis).
//
// Not thread-safe on its own: the shard's write lock guards changes, and readers read it only
// while no writer is active.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include <larder/cache/memory_entry.hpp>

namespace larder::detail {

class entry_table {
 public:
  entry_table() { reset(initial_capacity); }

  memory_entry* find(std::string_view key, std::uint64_t hash) const noexcept {
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.entry == nullptr) return nullptr;
      if (s.hash == hash && s.entry->key() == key) return s.entry;
    }
  }

  // REQUIRES: no entry with e's key is present.
  void insert(memory_entry* e) {
    if ((size_ + 1) * 4 > (mask_ + 1) * 3) grow();
    place(e);
    ++size_;
  }

  // REQUIRES: e is present.
  void erase(const memory_entry* e) noexcept {
    std::size_t hole = e->hash & mask_;
    while (slots_[hole].entry != e)
      hole = (hole + 1) & mask_;
    // Shift back every following entry whose home is not between the hole and its position.
    for (std::size_t next = (hole + 1) & mask_; slots_[next].entry != nullptr;
         next = (next + 1) & mask_) {
      const std::size_t home = slots_[next].hash & mask_;
      const bool stays =
          hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
      if (!stays) {
        slots_[hole] = slots_[next];
        hole = next;
      }
    }
    slots_[hole] = slot{};
    --size_;
  }

  std::size_t size() const noexcept { return size_; }

  // Calls f(memory_entry*) for every entry. f must not change the table.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i <= mask_; ++i) {
      if (slots_[i].entry != nullptr) f(slots_[i].entry);
    }
  }

 private:
  struct slot {
    std::uint64_t hash = 0;
    memory_entry* entry = nullptr;  // nullptr: empty
  };
  static constexpr std::size_t initial_capacity = 16;

  void reset(std::size_t capacity) {
    slots_ = std::make_unique<slot[]>(capacity);
    mask_ = capacity - 1;
  }

  static void place(slot* slots, std::size_t mask, memory_entry* e) noexcept {
    std::size_t i = e->hash & mask;
    while (slots[i].entry != nullptr)
      i = (i + 1) & mask;
    slots[i] = slot{e->hash, e};
  }
  void place(memory_entry* e) noexcept { place(slots_.get(), mask_, e); }

  // Allocates before touching the table, so a bad_alloc leaves it as it was.
  void grow() {
    const std::size_t capacity = (mask_ + 1) * 2;
    auto bigger = std::make_unique<slot[]>(capacity);
    for (std::size_t i = 0; i <= mask_; ++i) {
      if (slots_[i].entry != nullptr) place(bigger.get(), capacity - 1, slots_[i].entry);
    }
    slots_ = std::move(bigger);
    mask_ = capacity - 1;
  }

  std::unique_ptr<slot[]> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace larder::detail
