#include "larder/cache/policy/frequency_sketch.hpp"

#include <algorithm>
#include <bit>

namespace larder {
namespace {

// Odd multipliers that spread one 64-bit hash into independent-looking indices (from splitmix64
// and the golden ratio).
constexpr std::uint64_t row_seeds[] = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull,
                                       0x94d049bb133111ebull, 0xd6e8feb86659fd93ull};
constexpr std::uint64_t doorkeeper_seeds[] = {0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull};

std::uint64_t mix(std::uint64_t hash, std::uint64_t seed) noexcept {
  const std::uint64_t x = (hash ^ (hash >> 31)) * seed;
  return x ^ (x >> 29);
}

}  // namespace

void frequency_sketch::resize(std::uint64_t entries) {
  sized_for_ = std::max<std::uint64_t>(entries, 64);
  row_width_ = std::bit_ceil(sized_for_);
  row_shift_ = 64 - std::countr_zero(row_width_);
  counters_.assign(rows * row_width_ / 16, 0);
  // 8 bits per entry and two probes: about 2 % false positives when full.
  doorkeeper_.assign(row_width_ * 8 / 64, 0);
  doorkeeper_mask_ = row_width_ * 8 - 1;
  sample_size_ = 10 * sized_for_;
  accesses_ = 0;
}

std::uint64_t frequency_sketch::counter_index(std::uint64_t hash, int row) const noexcept {
  return static_cast<std::uint64_t>(row) * row_width_ + (mix(hash, row_seeds[row]) >> row_shift_);
}

unsigned frequency_sketch::counter(std::uint64_t index) const noexcept {
  return static_cast<unsigned>(counters_[index / 16] >> (index % 16 * 4)) & 0xf;
}

bool frequency_sketch::doorkeeper_has(std::uint64_t hash) const noexcept {
  for (const std::uint64_t seed : doorkeeper_seeds) {
    const std::uint64_t bit = mix(hash, seed) & doorkeeper_mask_;
    if ((doorkeeper_[bit / 64] >> (bit % 64) & 1) == 0) return false;
  }
  return true;
}

void frequency_sketch::doorkeeper_add(std::uint64_t hash) noexcept {
  for (const std::uint64_t seed : doorkeeper_seeds) {
    const std::uint64_t bit = mix(hash, seed) & doorkeeper_mask_;
    doorkeeper_[bit / 64] |= std::uint64_t{1} << (bit % 64);
  }
}

void frequency_sketch::record(std::uint64_t hash) {
  if (!doorkeeper_has(hash)) {
    doorkeeper_add(hash);
  } else {
    for (int row = 0; row < rows; ++row) {
      const std::uint64_t index = counter_index(hash, row);
      if (counter(index) < max_count) counters_[index / 16] += std::uint64_t{1} << (index % 16 * 4);
    }
  }
  if (++accesses_ >= sample_size_) age();
}

unsigned frequency_sketch::estimate(std::uint64_t hash) const {
  unsigned smallest = max_count;
  for (int row = 0; row < rows; ++row)
    smallest = std::min(smallest, counter(counter_index(hash, row)));
  return smallest + (doorkeeper_has(hash) ? 1 : 0);
}

void frequency_sketch::age() {
  // Halves all 16 counters of a word at once: shift, then drop the bit each counter received
  // from its upper neighbour.
  for (std::uint64_t& word : counters_)
    word = (word >> 1) & 0x7777777777777777ull;
  std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
  accesses_ /= 2;
}

}  // namespace larder
