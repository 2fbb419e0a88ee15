// disk_tier: the persistent tier of a larder cache, a log of fixed-size regions in a directory.
//
// 1. Log structure. Puts are encoded (disk/entry_format.hpp: header, key, xxh3 checksum, zstd
//    when it pays) into the open region's memory buffer, synchronously. The buffer goes to the
//    device as it fills, in writes of about 1 MiB of completed blocks, through the file_io
//    interface (io_uring in production, a fault injector in tests); a full region is sealed,
//    its last chunk written, and a new region opens. Buffers of written regions are reused for
//    new ones (huge pages where the kernel allows). Each region is its own file, named by its
//    sequence number, so a region is reclaimed by deleting one file and no stale bytes can ever
//    be read back as part of a newer region.
// 2. Budget. Regions in use x region_size stays within capacity_bytes: before a region opens,
//    the oldest (fifo) or least recently read (lru) written region is dropped with its entries.
//    Reinsertion (on by default) keeps what is being read, as CacheLib's Navy and foyer do:
//    a get hit sets the entry's read mark (a bit of its index slot, disk/disk_index.hpp). When a
//    region opens and the budget is full, the region to be dropped next is reclaimed ahead, in
//    the background, if a get marked entries in it: it is read whole, its marked entries that
//    the index still points at and that have not expired are copied into the open region by
//    compaction's code (note 7), the copies are flushed, and only then is the region evicted,
//    so reinsertion never loses an entry a flush had made durable. The eviction log also lists
//    the keys moved (disk/eviction_log.hpp): a crash that lost the copies finds misses, never
//    older values. A copy is unmarked, so an entry is reinserted again only if it is read again.
//    Bounded so that it cannot starve puts: at most reinsertion_share of a region (a quarter by
//    default) per reclaim, in the region's order; one reclaim at a time; and puts never wait for
//    it: if the open region fills first, make_room drops the next region as before (the one
//    being reclaimed is not a candidate). A region without marks is dropped unread, as before;
//    one whose marked entries have all been replaced or erased since costs the read, no flush.
//    If the read fails, the tier degrades (note 9) and the region is left to make_room, which
//    drops it unread as without reinsertion. Compaction keeps an entry's mark. Marks live in
//    memory only: a reopened tier starts with none.
// 3. Index. disk/disk_index.hpp: 12-byte slots and a mark bit, about 15.7 bytes of RAM per
//    entry.
// 4. Reads. The index gives region, offset and size; bytes of the open region or of a region
//    still being written come from memory, others with one aligned read. The entry's checksum
//    and full key are checked before a byte is returned; a checksum failure is a miss, counted,
//    logged, and the entry dropped. Expired entries are misses.
// 5. Durability. flush() writes the open region's filled part (and the next put starts on a
//    fresh block, so a flushed block is never rewritten), waits for every pending write, then
//    fdatasyncs the region files and the directory: every put before a completed flush survives
//    a crash, also when flushes run concurrently (each syncs what another is still syncing).
//    Without it a crash may lose recent puts, never return wrong bytes.
// 6. Reopen. close() writes an index snapshot; open() loads it when it is valid and matches the
//    region files, and deletes it before anything new is written. Otherwise (a crash) open()
//    rebuilds the index by scanning every region in sequence order, keeping the entries whose
//    checksums verify and stepping over damaged or unwritten bytes (disk/region_file.hpp); later
//    entries and tombstones (from erase) override earlier ones (disk/region_replay.hpp).
// 7. Cleanup (cleanup(), run on a schedule by the cache's cleanup service). Each region keeps
//    a count of its live bytes (entries the index still points at). A written region whose live
//    share has fallen below compact_below is compacted: its live, unexpired entries are copied
//    as they are into the open region, made durable with a flush, and only then is the region
//    deleted (the path reinsertion shares, note 2), so compaction never loses an entry that a flush
//    had made durable. A region whose entries have all expired (the tier tracks each region's
//    latest expiry) is dropped without being read; other expired entries are misses when read and
//    dropped by compaction. Tombstones are carried forward while an older region exists that they
//    may still shadow. The pass also deletes orphaned files in the directory (a snapshot's
//    temporary file, region files the index does not know) and drops regions over the budget.
// 8. Admission. set_admitting(false) makes puts refuse (counted as rejections) while reads go
//    on: the cleanup service does it when the filesystem runs short of free space.
// 9. Failure. A write or read error degrades the tier: it logs once, counts, and from then on
//    get() misses and put() refuses, so the cache carries on from memory. flush() returns the
//    error to the caller that asked for durability.
//
// Thread safety: every member function may be called concurrently from any thread; one mutex
// guards the index and the region table (held for short, non-blocking sections, never across
// I/O). The tier must outlive the operations started on it and the file_io must outlive the
// tier. Destroyed without close(), the tier lets its writes in flight finish in the background
// and keeps its directory locked until they have.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>

#include <larder/cache/blob.hpp>
#include <larder/cache/metrics/latency_histogram.hpp>
#include <larder/io/file_io.hpp>
#include <larder/runtime/asio.hpp>

namespace larder {

enum class region_eviction { fifo, lru };

struct disk_tier_options {
  std::filesystem::path path;
  // REQUIRES: at least two regions' worth.
  std::uint64_t capacity_bytes = 0;
  // Fixed for the life of a directory (the manifest refuses a change). 32 MiB: large enough that
  // a region write is one long sequential transfer, small enough that the budget is respected
  // closely. At most 128 MiB.
  std::uint64_t region_size = 32ull << 20;
  region_eviction eviction = region_eviction::fifo;
  bool compression = false;
  int compression_level = 3;
  // Store compressed only if that saves at least this share of the value's size.
  double compression_min_saving = 0.05;
  // cleanup() compacts written regions whose live bytes are below this share of region_size.
  // 0.5: moving a region's survivors costs at most half a region of writes to free a whole one.
  double compact_below = 0.5;
  // At most this many regions compacted per cleanup() pass, so a pass cannot starve puts of the
  // device for long.
  unsigned max_compactions_per_pass = 4;
  // Reinsertion of read entries when the budget reclaims their region (design note 2).
  bool reinsertion = true;
  // At most this share of region_size reinserted per region reclaimed, so that at least 1 - share
  // of the device's writes are new puts (write amplification at most 1 / (1 - share)). 0.25:
  // amplification at most 1.33; chosen, not measured. Between 0 and 0.5.
  double reinsertion_share = 0.25;
};

// What one cleanup() pass did.
struct disk_cleanup_report {
  std::uint64_t regions_expired = 0;  // every entry past its expiry: dropped unread
  std::uint64_t regions_compacted = 0;
  std::uint64_t entries_moved = 0;
  std::uint64_t bytes_moved = 0;
  std::uint64_t expired_dropped = 0;  // expired entries found in compacted regions
  std::uint64_t regions_over_budget = 0;
  std::uint64_t orphans_removed = 0;
  std::error_code error;  // the first I/O error; the pass stops there
};

struct disk_tier_stats {
  std::uint64_t entries = 0;
  std::uint64_t regions = 0;
  std::uint64_t bytes_used = 0;  // regions x region_size
  std::uint64_t capacity_bytes = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t insertions = 0;
  std::uint64_t rejections = 0;  // puts not admitted: too large, degraded, or (try_put) backed up
  std::uint64_t checksum_failures = 0;  // entries dropped because they failed their checksum
  std::uint64_t io_errors = 0;
  std::uint64_t regions_reclaimed = 0;
  // Entries dropped with regions reclaimed for the budget (or left behind by a compaction), and
  // entries dropped because their TTL had passed (found by a get, a compaction, or a region whose
  // every entry had expired).
  std::uint64_t evicted_entries = 0;
  std::uint64_t expired_entries = 0;
  std::uint64_t writes = 0;            // device writes issued (region chunks and flush padding)
  std::uint64_t writes_in_flight = 0;  // issued and not yet completed
  // Region buffers allocated since open. Written regions hand their buffers on to the next ones,
  // so a fill allocates about as many as it has regions in memory at once, not one per region.
  std::uint64_t region_buffers_allocated = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t reads = 0;  // device reads of entries (gets served from a region buffer excluded)
  std::uint64_t bytes_read = 0;
  std::uint64_t live_bytes = 0;  // bytes of entries the index points at, in all regions
  std::uint64_t regions_compacted = 0;
  std::uint64_t reinsertions = 0;  // entries copied forward from regions being reclaimed
  std::uint64_t bytes_reinserted = 0;
  std::uint64_t regions_reinserting = 0;  // being reclaimed with reinsertion now: 0 or 1
  double index_bytes_per_entry = 0;
  // Device latencies: entry reads of gets, region writes, and the fdatasyncs of flushes.
  latency_summary read_latency;
  latency_summary write_latency;
  latency_summary sync_latency;
  bool admitting = true;
  bool degraded = false;
  bool recovered_by_scan = false;  // the last open rebuilt the index by scanning
};

class disk_tier {
 public:
  using executor_type = asio::any_io_executor;

  // Opens or creates the tier in options.path. Throws disk::directory_error (directory in use,
  // unknown format, changed region size) or std::invalid_argument (bad options).
  static asio::awaitable<std::unique_ptr<disk_tier>> open(executor_type executor, io::file_io& io,
                                                          disk_tier_options options);
  ~disk_tier();
  disk_tier(const disk_tier&) = delete;
  disk_tier& operator=(const disk_tier&) = delete;

  // The value under key, or nullopt (absent, expired, corrupt, or the tier is degraded).
  asio::awaitable<std::optional<blob>> get(std::string_view key);

  // Appends key and value to the open region; `expires_at` is wall-clock time (default: never).
  // Copies the bytes. When the device is behind (too many full regions still being written),
  // waits for it. Returns false when the entry is not admitted: larger than a region, or the
  // tier degraded or closed.
  asio::awaitable<bool> put(std::string_view key, std::span<const std::byte> value,
                            std::chrono::system_clock::time_point expires_at = {});
  // put() that never waits: also refuses when the device is behind. For admitting memory
  // evictions, where dropping an entry is better than stalling the caller.
  bool try_put(std::string_view key, std::span<const std::byte> value,
               std::chrono::system_clock::time_point expires_at = {});

  // Whether the index has an entry for key's hash. Cheap (no I/O) and approximate: a rare
  // 32-bit tag collision answers for another key, and an expired or damaged entry counts until a
  // get finds it out.
  bool contains(std::string_view key) const;

  // Removes key; a tombstone in the log keeps it removed across a crash. Returns whether the
  // index had it.
  bool erase(std::string_view key);

  // The durability point (design note 5). Returns the first I/O error, if any.
  asio::awaitable<std::error_code> flush();

  // One cleanup pass (design note 7).
  asio::awaitable<disk_cleanup_report> cleanup();

  // Design note 8.
  void set_admitting(bool admitting);

  // Flushes and writes the index snapshot for a fast reopen. The tier refuses puts afterwards.
  asio::awaitable<std::error_code> close();

  disk_tier_stats stats() const;
  // The options it was opened with.
  const disk_tier_options& options() const noexcept;

  struct state;

 private:
  enum class admission { stored, backlogged, refused };

  explicit disk_tier(std::shared_ptr<state> s) : state_(std::move(s)) {}
  admission append(std::string_view key, std::span<const std::byte> value,
                   std::chrono::system_clock::time_point expires_at);
  static std::unique_ptr<disk_tier> adopt(std::shared_ptr<state> s);
  std::shared_ptr<state> state_;
};

}  // namespace larder
