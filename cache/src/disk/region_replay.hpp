// region_replay: how a crash-recovery scan rebuilds the index from a region's entries
// (disk_tier.hpp, design note 6), in one place for the disk tier and for `larder stat`, which
// counts live and dead entries the way a reopen would find them.
//
// Regions are replayed in sequence order. An entry of a region older than an eviction-log record
// that lists its key's tag is skipped (eviction_log.hpp); otherwise a value points the index at
// itself and a tombstone erases the key, so later entries override earlier ones.
//
// Not thread-safe: the caller owns the index.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>

#include "disk/disk_index.hpp"
#include "disk/region_file.hpp"
#include "key_hash.hpp"

namespace larder::disk {

enum class replay_outcome {
  indexed,     // a value the index now points at
  tombstone,   // a tombstone: the key's earlier entries are erased
  superseded,  // skipped: an evicted newer region decided this key
};

// Replays region `seq` (held in `slot`) into `index`, calling on_entry(offset, entry, tag,
// outcome) for each intact entry. `superseded` is eviction_log::load(). Returns false, adding
// nothing, when the region's header does not match (a region created but never written).
template <typename OnEntry>
bool replay_region(disk_index& index, std::uint16_t slot, std::uint64_t seq,
                   std::span<const std::byte> bytes,
                   const std::unordered_map<std::uint32_t, std::uint64_t>& superseded,
                   OnEntry&& on_entry) {
  if (!region_header_matches(bytes, seq)) return false;
  for_each_entry(bytes, [&](std::size_t pos, const entry_view& e) {
    const std::uint64_t hash = hash_key(e.key);
    const std::uint32_t tag = disk_index::tag_of(hash);
    replay_outcome outcome = replay_outcome::indexed;
    if (auto it = superseded.find(tag); it != superseded.end() && it->second > seq) {
      outcome = replay_outcome::superseded;
    } else if (e.tombstone()) {
      index.erase(hash);
      outcome = replay_outcome::tombstone;
    } else {
      index.insert(hash, {slot, static_cast<std::uint32_t>(pos),
                          static_cast<std::uint32_t>(e.encoded_size)});
    }
    on_entry(pos, e, tag, outcome);
    return true;
  });
  return true;
}

}  // namespace larder::disk
