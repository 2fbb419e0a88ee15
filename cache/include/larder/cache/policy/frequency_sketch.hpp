// frequency_sketch: an approximate, aging count of how often each key was accessed recently,
// TinyLFU's frequency filter (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
// Admission Policy", ACM ToS 2017).
//
// 1. Count-min sketch: 4 rows of 4-bit counters, each row indexed by its own hash of the key; an
//    access raises the key's counter in every row (up to 15), the estimate is the smallest.
// 2. Doorkeeper: a Bloom filter in front of the sketch takes a key's first access, so the many
//    keys seen only once never reach the counters; a key the filter knows counts one more.
// 3. Aging ("reset"): after sample_size accesses (10 x the entries it is sized for, the paper's
//    choice) every counter is halved and the doorkeeper cleared, so the counts follow a changing
//    workload.
// 4. Size: about `entries` rounded up to a power of two counters per row (2 bytes per entry in
//    all) plus 1 byte per entry of doorkeeper. Resizing starts from zero counts.
//
// Not thread-safe: guarded by the owning shard's lock.
#pragma once

#include <cstdint>
#include <vector>

namespace larder {

class frequency_sketch {
 public:
  static constexpr unsigned max_count = 15;

  // Resizes for about `entries` distinct keys (at least 64), forgetting every count.
  void resize(std::uint64_t entries);
  std::uint64_t sized_for() const noexcept { return sized_for_; }

  // Counts one access of the key with this hash. REQUIRES: resize() was called.
  void record(std::uint64_t hash);

  // The estimated recent accesses of the key: 0 to max_count + 1.
  unsigned estimate(std::uint64_t hash) const;

  std::uint64_t sample_size() const noexcept { return sample_size_; }

 private:
  static constexpr int rows = 4;
  std::uint64_t counter_index(std::uint64_t hash, int row) const noexcept;
  unsigned counter(std::uint64_t index) const noexcept;
  bool doorkeeper_has(std::uint64_t hash) const noexcept;
  void doorkeeper_add(std::uint64_t hash) noexcept;
  void age();

  std::vector<std::uint64_t> counters_;    // 16 counters of 4 bits per word, rows one after another
  std::vector<std::uint64_t> doorkeeper_;  // Bloom filter bits
  std::uint64_t row_width_ = 0;            // counters per row, a power of two
  int row_shift_ = 0;                      // 64 - log2(row_width_)
  std::uint64_t doorkeeper_mask_ = 0;
  std::uint64_t sized_for_ = 0;
  std::uint64_t sample_size_ = 0;
  std::uint64_t accesses_ = 0;
};

}  // namespace larder
