// ghost_queue: remembers the hashes of recently evicted keys, without their values, in FIFO
// order and up to a total weight: S3-FIFO's ghost queue G. A key that comes back while its ghost
// is remembered was evicted too early, and the policy treats it as popular.
//
// 1. A FIFO of records (hash, weight), numbered by a running sequence, and a flat hash table from
//    hash to the sequence of its newest record (open addressing, linear probing, deletion by
//    shifting back, as the memory tier's entry table): no allocation per ghost once warm.
// 2. take() forgets a key at once (out of the table, its weight subtracted); its record goes
//    stale and is dropped when it reaches the front. So that stale records cannot pile up behind
//    an old live one, the FIFO is also cut from the front when it holds over four times as many
//    records as live ghosts: the oldest ghosts are forgotten a little early, never late.
// 3. Keys are 64-bit hashes: two keys colliding only make one look like a returning key.
//
// Not thread-safe: guarded by the owning shard's lock.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

namespace larder {

class ghost_queue {
 public:
  ghost_queue();

  // Forgets the oldest ghosts until the total weight is within `weight`.
  void set_capacity(std::uint64_t weight);
  std::uint64_t capacity() const noexcept { return capacity_; }

  // Remembers hash with the given weight, forgetting the oldest ghosts beyond capacity. A ghost
  // heavier than the whole capacity is not remembered.
  void add(std::uint64_t hash, std::uint64_t weight);

  // Whether hash is remembered; if so, forgets it.
  bool take(std::uint64_t hash);

  bool contains(std::uint64_t hash) const { return find(hash) != no_slot; }
  std::uint64_t weight() const noexcept { return weight_; }
  std::size_t size() const noexcept { return live_; }

 private:
  struct record {
    std::uint64_t hash;
    std::uint64_t weight;
  };
  struct slot {
    std::uint64_t hash;
    std::uint64_t sequence_plus_one;  // 0: empty
  };
  static constexpr std::size_t no_slot = ~std::size_t{0};

  std::size_t find(std::uint64_t hash) const noexcept;
  void erase_slot(std::size_t index) noexcept;
  void insert_slot(std::uint64_t hash, std::uint64_t sequence);
  void grow();
  // The table slot of the record at the front of the FIFO, or no_slot if that record is stale.
  // REQUIRES: the FIFO is not empty.
  std::size_t front_slot() const noexcept;
  // Forgets the record at the front of the FIFO (if live) and drops it.
  void pop_front();
  void trim();

  std::deque<record> fifo_;
  std::uint64_t front_sequence_ = 0;  // sequence of fifo_.front()
  std::vector<slot> table_;
  std::size_t mask_ = 0;
  std::size_t live_ = 0;
  std::uint64_t weight_ = 0;
  std::uint64_t capacity_ = 0;
};

}  // namespace larder
