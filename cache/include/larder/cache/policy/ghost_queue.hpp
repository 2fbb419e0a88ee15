// ghost_queue: remembers the hashes of recently evicted keys, without their values, in FIFO
// order and up to a total weight: S3-FIFO's ghost queue G. A key that comes back while its ghost
// is remembered was evicted too early, and the policy treats it as popular.
//
// 1. A FIFO of (hash, sequence) records and a hash map from hash to the sequence and weight of
//    its newest record. take() forgets a key at once (erasing it from the map and subtracting its
//    weight); its record then goes stale and is skipped when it reaches the front. Stale records
//    are swept out when they outnumber the live ones, so memory stays proportional to the ghosts.
// 2. Keys are 64-bit hashes: two keys colliding only make one look like a returning key.
//
// Not thread-safe: guarded by the owning shard's lock.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>

namespace larder {

class ghost_queue {
 public:
  // Forgets the oldest ghosts until the total weight is within `weight`.
  void set_capacity(std::uint64_t weight);
  std::uint64_t capacity() const noexcept { return capacity_; }

  // Remembers hash with the given weight, forgetting the oldest ghosts beyond capacity. A ghost
  // heavier than the whole capacity is not remembered.
  void add(std::uint64_t hash, std::uint64_t weight);

  // Whether hash is remembered; if so, forgets it.
  bool take(std::uint64_t hash);

  bool contains(std::uint64_t hash) const { return live_.contains(hash); }
  std::uint64_t weight() const noexcept { return weight_; }
  std::size_t size() const noexcept { return live_.size(); }

 private:
  struct record {
    std::uint64_t hash;
    std::uint64_t sequence;
  };
  struct ghost {
    std::uint64_t sequence;
    std::uint64_t weight;
  };
  bool is_live(const record& r) const;
  void trim();
  void sweep_stale();

  std::deque<record> fifo_;
  std::unordered_map<std::uint64_t, ghost> live_;
  std::uint64_t next_sequence_ = 0;
  std::uint64_t weight_ = 0;
  std::uint64_t capacity_ = 0;
};

}  // namespace larder
