// disk_index: the disk tier's in-memory map from key hash to where the entry lies on disk.
//
// 1. Budget. DESIGN.md allows 16 bytes of RAM per entry. A slot is 12 bytes and a bit (a 32-bit
//    hash tag, a 64-bit packed location and a read mark, in three parallel arrays), and the table
//    grows by 18 % once it is 90 % full, so it stays between 76.3 % and 90 % full: 13.5 to 15.9
//    bytes per entry, under the budget at every size past the initial capacity (growing by a
//    quarter at 85 % swung up to 17.8). Linear probing at 90 % costs about 5.5 slots per hit and
//    50 per miss, a few cache lines of the tag and location arrays: nothing beside a disk read.
//    bytes_per_entry() reports the real figure.
// 2. The tag is the hash's high 32 bits, and it is all the index keeps of a hash: the home slot
//    is the high half of tag x capacity (Lemire's fast range reduction), so the table can grow by
//    18 % instead of doubling and still re-home every entry. Two keys with the same tag are
//    one entry to the index: the later put replaces the earlier (with a million entries, one put
//    in about four thousand displaces another key, which a cache may afford). A lookup whose
//    tag matches an entry of another key costs one disk read, and the full key in the entry
//    settles it (disk_tier compares keys).
// 3. Linear probing with backward-shift deletion (no tombstones).
// 4. A location packs region slot (16 bits), offset / 8 (24 bits) and encoded size / 8 (24 bits):
//    regions of up to 128 MiB, 65535 regions. Zero means empty (no entry starts at offset 0: the
//    region header is there).
// 5. The read mark: the disk tier sets it when a get hits the entry, and reinserts marked entries
//    when their region is reclaimed (disk_tier.hpp, design note 2). It belongs to the entry at
//    its location: replacing the location clears it, and it moves with the slot when deletion
//    shifts entries or the table grows. It lives apart from the location, which has no spare
//    bit (4), so a snapshot does not keep it.
//
// Not thread-safe: the disk tier guards it with its own lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace larder::disk {

struct entry_location {
  std::uint16_t region_slot = 0;
  std::uint32_t offset = 0;  // bytes from the region's start; a multiple of 8
  std::uint32_t size = 0;    // encoded size; a multiple of 8

  std::uint64_t pack() const noexcept {
    return (std::uint64_t{region_slot} << 48) | (std::uint64_t{offset / 8} << 24) | (size / 8);
  }
  static entry_location unpack(std::uint64_t packed) noexcept {
    return {static_cast<std::uint16_t>(packed >> 48),
            static_cast<std::uint32_t>((packed >> 24) & 0xffffff) * 8,
            static_cast<std::uint32_t>(packed & 0xffffff) * 8};
  }
  friend bool operator==(const entry_location&, const entry_location&) = default;
};

inline constexpr std::uint64_t max_region_size = std::uint64_t{1} << 27;

class disk_index {
 public:
  explicit disk_index(std::size_t initial_capacity = 1024);

  std::optional<entry_location> find(std::uint64_t hash) const noexcept;
  // Inserts or replaces; returns the location replaced, if any.
  std::optional<entry_location> insert(std::uint64_t hash, entry_location where);
  // Removes hash if it is present at exactly `where` (an older location is left alone: the entry
  // has moved since). Returns whether it removed.
  bool erase(std::uint64_t hash, entry_location where) noexcept;
  bool erase(std::uint64_t hash) noexcept;

  // Sets the read mark of hash's entry if it is at `where` (design note 5). Returns whether the
  // mark is new.
  bool mark(std::uint64_t hash, entry_location where) noexcept;
  bool marked(std::uint64_t hash) const noexcept;

  // Calls f(tag, location) for every entry; f must not change the index. A hash rebuilt as
  // uint64(tag) << 32 finds the same entry (the snapshot relies on it).
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (locations_[i] != 0) f(tags_[i], entry_location::unpack(locations_[i]));
    }
  }

  // Grows the table to hold `entries` without growing again. Call it before inserting many entries
  // in tag order (as from a snapshot): inserted into a table that is still small, keys sorted by
  // tag would all crowd into one run at its start and make every insertion probe the whole run.
  void reserve(std::size_t entries);

  // Removes every entry whose location is in `region_slot`; returns how many.
  std::size_t erase_region(std::uint16_t region_slot);

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  // RAM the table holds per entry it maps (0 when empty).
  double bytes_per_entry() const noexcept;

  // The 32 bits of a key's hash that the table keeps.
  static std::uint32_t tag_of(std::uint64_t hash) noexcept {
    return static_cast<std::uint32_t>(hash >> 32);
  }

 private:
  std::size_t home(std::uint32_t tag) const noexcept {
    return static_cast<std::size_t>((std::uint64_t{tag} * capacity_) >> 32);
  }
  std::size_t next(std::size_t i) const noexcept { return i + 1 == capacity_ ? 0 : i + 1; }
  std::size_t find_slot(std::uint32_t tag) const noexcept;  // capacity_ if absent
  void erase_slot(std::size_t i) noexcept;
  bool marked_at(std::size_t i) const noexcept { return (marks_[i / 64] >> (i % 64)) & 1; }
  void set_mark(std::size_t i, bool on) noexcept {
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    marks_[i / 64] = on ? marks_[i / 64] | bit : marks_[i / 64] & ~bit;
  }
  void grow();
  void rehash(std::size_t new_capacity);

  std::size_t capacity_;
  std::size_t size_ = 0;
  std::unique_ptr<std::uint32_t[]> tags_;
  std::unique_ptr<std::uint64_t[]> locations_;  // 0: empty slot
  std::unique_ptr<std::uint64_t[]> marks_;      // a bit per slot; clear in empty slots
};

}  // namespace larder::disk
