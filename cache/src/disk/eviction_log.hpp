// eviction_log: keeps a crash-recovery scan from resurrecting what an evicted region had
// superseded.
//
// The problem. A crash scan (disk_tier, design note 6) rebuilds the index from the regions that
// remain, later entries overriding earlier ones. LRU region eviction can delete a region R that
// is not the oldest. If R held the newest value of key k (or a tombstone for k) and an older
// region Q still holds an earlier value, the scan would bring that earlier value back: stale
// bytes served as current.
//
// The fix. Before R's file is deleted, the tier appends a record to this log: R's sequence
// number and the 32-bit index tags of every key R still decided (its live entries and its
// tombstones), and syncs it. A scan skips any entry of a region older than a record that lists
// the entry's tag. A tag shared by another key only makes that key a miss, never wrong data.
// A record is written only when an older region exists: FIFO eviction deletes the oldest region,
// which shadows nothing, unless that one is being reclaimed with reinsertion and the next is
// taken instead. Reinsertion copies R's read entries forward and flushes them before it evicts
// R; its record lists those keys too, so that a crash that lost the copies costs misses, not
// older values. Compaction moves all R decided forward before deleting it and writes none.
//
// Format: records of magic "LREV" (u32), tag count (u32), region sequence (u64), the tags (u32
// each), xxh3-64 of the preceding bytes of the record (u64). A torn or damaged record ends the
// log (it was the last one being written). close() prunes records older than every remaining
// region.
//
// Not thread-safe: the disk tier calls it under its mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <unordered_map>
#include <vector>

namespace larder::disk {

class eviction_log {
 public:
  explicit eviction_log(std::filesystem::path file) : file_(std::move(file)) {}

  // Appends one record and fdatasyncs it. Throws std::system_error.
  void append(std::uint64_t region_seq, std::span<const std::uint32_t> tags);

  // For each tag in the log, the newest evicted region listing it.
  std::unordered_map<std::uint32_t, std::uint64_t> load() const;

  // Rewrites the log without the records of regions older than `oldest_region_seq` (they can no
  // longer shadow anything) and without a torn last record, atomically. Throws
  // std::system_error.
  void prune(std::uint64_t oldest_region_seq);

 private:
  struct record {
    std::uint64_t seq;
    std::vector<std::uint32_t> tags;
  };
  std::vector<record> records(bool* damaged_tail = nullptr) const;

  std::filesystem::path file_;
};

}  // namespace larder::disk
