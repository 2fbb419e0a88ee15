#include "disk/disk_index.hpp"

#include <algorithm>
#include <cassert>

namespace larder::disk {
namespace {

// Grow once this full, by this factor (see the design note: 76.3 % to 90 % full).
constexpr double max_load = 0.9;
constexpr double growth = 1.18;

std::size_t mark_words(std::size_t capacity) {
  return (capacity + 63) / 64;
}

}  // namespace

disk_index::disk_index(std::size_t initial_capacity)
    : capacity_(std::max<std::size_t>(initial_capacity, 16)),
      tags_(std::make_unique<std::uint32_t[]>(capacity_)),
      locations_(std::make_unique<std::uint64_t[]>(capacity_)),
      marks_(std::make_unique<std::uint64_t[]>(mark_words(capacity_))) {}

std::size_t disk_index::find_slot(std::uint32_t tag) const noexcept {
  for (std::size_t i = home(tag);; i = next(i)) {
    if (locations_[i] == 0) return capacity_;
    if (tags_[i] == tag) return i;
  }
}

std::optional<entry_location> disk_index::find(std::uint64_t hash) const noexcept {
  const std::size_t i = find_slot(tag_of(hash));
  if (i == capacity_) return std::nullopt;
  return entry_location::unpack(locations_[i]);
}

std::optional<entry_location> disk_index::insert(std::uint64_t hash, entry_location where) {
  assert(where.pack() != 0);
  const std::uint32_t tag = tag_of(hash);
  if (const std::size_t i = find_slot(tag); i != capacity_) {
    const auto old = entry_location::unpack(locations_[i]);
    locations_[i] = where.pack();
    set_mark(i, false);
    return old;
  }
  if (static_cast<double>(size_ + 1) > max_load * static_cast<double>(capacity_)) grow();
  std::size_t i = home(tag);
  while (locations_[i] != 0)
    i = next(i);
  tags_[i] = tag;
  locations_[i] = where.pack();
  ++size_;
  return std::nullopt;
}

bool disk_index::mark(std::uint64_t hash, entry_location where) noexcept {
  const std::size_t i = find_slot(tag_of(hash));
  if (i == capacity_ || locations_[i] != where.pack() || marked_at(i)) return false;
  set_mark(i, true);
  return true;
}

bool disk_index::marked(std::uint64_t hash) const noexcept {
  const std::size_t i = find_slot(tag_of(hash));
  return i != capacity_ && marked_at(i);
}

bool disk_index::erase(std::uint64_t hash, entry_location where) noexcept {
  const std::size_t i = find_slot(tag_of(hash));
  if (i == capacity_ || locations_[i] != where.pack()) return false;
  erase_slot(i);
  return true;
}

bool disk_index::erase(std::uint64_t hash) noexcept {
  const std::size_t i = find_slot(tag_of(hash));
  if (i == capacity_) return false;
  erase_slot(i);
  return true;
}

void disk_index::erase_slot(std::size_t hole) noexcept {
  // Backward shift: move each following entry of the run into the hole unless its home lies
  // cyclically in (hole, position].
  for (std::size_t j = next(hole); locations_[j] != 0; j = next(j)) {
    const std::size_t h = home(tags_[j]);
    const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (!stays) {
      tags_[hole] = tags_[j];
      locations_[hole] = locations_[j];
      set_mark(hole, marked_at(j));
      hole = j;
    }
  }
  locations_[hole] = 0;
  set_mark(hole, false);
  --size_;
}

std::size_t disk_index::erase_region(std::uint16_t region_slot) {
  // Collect first: erasing shifts entries, which would make a single sweep skip some.
  std::vector<std::uint32_t> doomed;
  for (std::size_t i = 0; i < capacity_; ++i) {
    if (locations_[i] != 0 && entry_location::unpack(locations_[i]).region_slot == region_slot) {
      doomed.push_back(tags_[i]);
    }
  }
  for (std::uint32_t tag : doomed) {
    const std::size_t i = find_slot(tag);
    if (i != capacity_) erase_slot(i);
  }
  return doomed.size();
}

void disk_index::grow() {
  rehash(
      std::max(capacity_ + 1, static_cast<std::size_t>(static_cast<double>(capacity_) * growth)));
}

void disk_index::reserve(std::size_t entries) {
  const auto needed = static_cast<std::size_t>(static_cast<double>(entries) / max_load) + 1;
  if (needed > capacity_) rehash(needed);
}

void disk_index::rehash(std::size_t new_capacity) {
  auto tags = std::make_unique<std::uint32_t[]>(new_capacity);
  auto locations = std::make_unique<std::uint64_t[]>(new_capacity);
  auto marks = std::make_unique<std::uint64_t[]>(mark_words(new_capacity));
  std::swap(tags, tags_);
  std::swap(locations, locations_);
  std::swap(marks, marks_);
  const std::size_t old_capacity = capacity_;
  capacity_ = new_capacity;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    if (locations[i] == 0) continue;
    std::size_t j = home(tags[i]);
    while (locations_[j] != 0)
      j = next(j);
    tags_[j] = tags[i];
    locations_[j] = locations[i];
    set_mark(j, (marks[i / 64] >> (i % 64)) & 1);
  }
}

double disk_index::bytes_per_entry() const noexcept {
  if (size_ == 0) return 0;
  const double bytes =
      static_cast<double>(capacity_) * (sizeof(std::uint32_t) + sizeof(std::uint64_t)) +
      static_cast<double>(mark_words(capacity_) * sizeof(std::uint64_t));
  return bytes / static_cast<double>(size_);
}

}  // namespace larder::disk
