#include "larder/cache/disk_tier.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "disk/cache_directory.hpp"
#include "disk/disk_index.hpp"
#include "disk/entry_format.hpp"
#include "disk/eviction_log.hpp"
#include "disk/region_file.hpp"
#include "disk/region_replay.hpp"
#include "key_hash.hpp"
#include "larder/io/aligned_buffer.hpp"
#include "larder/io/file.hpp"
#include "larder/runtime/detail/posted_completion.hpp"
#include "larder/runtime/log.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;

// flush() pads the open region to this boundary, so that a block written by one flush is never
// rewritten by the next (a torn rewrite could damage flushed entries). disk/region_file.hpp.
constexpr std::size_t block_size = disk::region_block_size;
using disk::region_file_name;
using disk::region_header_size;
// Sealed regions whose write has not finished; beyond this, puts are refused rather than letting
// memory grow while the device falls behind.
constexpr std::size_t max_regions_being_written = 4;
// The open region is written out as it fills, in writes of about this size, instead of in one
// write when it is full: the device starts after the first MiB instead of after the first region,
// and a flush finds at most this much left to write. 1 MiB, like fio's sequential-write job it is
// compared with; chosen by measurement with bench/disk_tier_bench (one 32 MiB write per region
// reached 0.51-0.59 of fio).
constexpr std::size_t write_chunk = 1 << 20;
// Reads of at least this many bytes use a registered buffer when the ring has one free: in
// disk_tier_bench they raised random gets at depth 32 by about a tenth for 4 KiB values and by
// a third for 64 KiB ones (bench/RESULTS.md). Smaller reads leave the pool to reads that gain.
constexpr std::size_t registered_read_from = 4 << 10;

constexpr std::uint32_t snapshot_magic = 0x5344524c;  // "LRDS"
// 2: each region carries the tags of the keys its tombstones erased (eviction_log.hpp).
constexpr std::uint32_t snapshot_version = 2;

using io::round_up;

template <typename T>
void store(std::vector<std::byte>& out, T value) {
  const auto* p = reinterpret_cast<const std::byte*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

template <typename T>
bool load(std::span<const std::byte>& in, T& value) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(&value, in.data(), sizeof(T));
  in = in.subspan(sizeof(T));
  return true;
}

std::int64_t to_unix_ns(std::chrono::system_clock::time_point t) {
  if (t == std::chrono::system_clock::time_point{}) return 0;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

bool expired(std::int64_t expires_at_unix_ns) {
  return expires_at_unix_ns != 0 &&
         to_unix_ns(std::chrono::system_clock::now()) >= expires_at_unix_ns;
}

}  // namespace

namespace disk {

// One region: a file named by its sequence number, and, while it is open or being written, the
// memory buffer its bytes come from.
struct region {
  std::uint64_t seq = 0;
  std::uint16_t slot = 0;
  // Shared so that a read in flight keeps the descriptor open if the region is reclaimed.
  std::shared_ptr<io::file> file;
  std::shared_ptr<io::aligned_buffer> buffer;
  std::uint32_t write_pos = 0;    // bytes of buffer holding entries (and flush padding)
  std::uint32_t flushed_pos = 0;  // bytes handed to writes
  std::uint64_t last_read = 0;    // the tier's read clock at the last read, for lru eviction
  std::uint64_t live_bytes = 0;   // encoded bytes of the entries the index points at here
  unsigned pending_writes = 0;
  std::uint32_t marks = 0;  // read marks set on its entries; 0: none to reinsert
  bool open = false;        // accepting puts
  bool compacting = false;  // its entries are being moved (compaction, reinsertion): not a victim
  std::vector<std::uint32_t> tombstone_tags;  // keys it erased, for the eviction log
  // The latest expiry (Unix ns) of the entries put into it: once past, every entry in it has
  // expired and cleanup drops it without reading it. 0: no entries yet; never_expires: an entry
  // without expiry, or unknown (a region from before the last open).
  std::int64_t latest_expiry = 0;
  static constexpr std::int64_t never_expires = std::numeric_limits<std::int64_t>::max();

  void note_expiry(std::int64_t expires_at_unix_ns) {
    latest_expiry =
        expires_at_unix_ns == 0 ? never_expires : std::max(latest_expiry, expires_at_unix_ns);
  }
  // Writes to its file completed, and how many of them an fdatasync has finished after. A flush
  // syncs the region while they differ and catches writes_synced up only once its own sync has
  // finished, so a flush that runs while another is syncing syncs too, instead of returning
  // before the data is durable.
  std::uint64_t writes_done = 0;
  std::uint64_t writes_synced = 0;
};

// What a relocation copies out of a region before the region goes.
enum class relocation {
  compaction,   // every live entry, keeping its read mark, and the tombstones still needed
  reinsertion,  // the marked live entries, up to reinsertion_share of a region, unmarked
};

// What one relocation did.
struct relocation_result {
  std::uint64_t entries_moved = 0;
  std::uint64_t bytes_moved = 0;
  std::uint64_t expired_dropped = 0;
  bool appended = false;  // entries or tombstones went into the open region
  bool removed = false;   // the region is gone
  std::error_code error;
  std::vector<std::uint32_t> moved_tags;  // reinsertion: the tags of the keys it moved
};

}  // namespace disk

using disk::region;
using disk::relocation;
using disk::relocation_result;

struct disk_tier::state : std::enable_shared_from_this<disk_tier::state> {
  state(executor_type ex, io::file_io& file_io, disk_tier_options opts, disk::cache_directory dir)
      : executor(std::move(ex)),
        io(file_io),
        options(std::move(opts)),
        directory(std::move(dir)),
        evictions(directory.path() / "evictions.log") {
    compression.enabled = options.compression;
    compression.level = options.compression_level;
    compression.min_saving = options.compression_min_saving;
    max_regions = static_cast<std::size_t>(options.capacity_bytes / options.region_size);
    slots.resize(std::min<std::size_t>(max_regions + max_regions_being_written + 2, 65535));
  }

  executor_type executor;
  io::file_io& io;
  disk_tier_options options;
  disk::cache_directory directory;
  disk::compression_settings compression;
  std::size_t max_regions = 0;
  disk::eviction_log evictions;

  // mu protects every field below.
  mutable std::mutex mu;
  disk::disk_index index;
  std::vector<std::unique_ptr<region>> slots;  // by slot number; null = free
  region* open_region = nullptr;
  std::uint64_t next_seq = 1;
  std::uint64_t read_clock = 0;
  unsigned pending_writes = 0;
  std::vector<std::function<void()>> write_waiters;  // flushes waiting for pending_writes == 0
  std::vector<std::function<void()>> room_waiters;   // puts waiting for any write to finish
  // Buffers of regions that finished writing, reused by the next regions: a fresh 32 MiB buffer
  // costs a page fault per 4 KiB on first touch, which was half the CPU of a fill.
  std::vector<std::shared_ptr<io::aligned_buffer>> spare_buffers;
  // Region files created or deleted, and how many of those changes a directory sync has
  // finished after (as writes_done and writes_synced for a region).
  std::uint64_t directory_changes = 0;
  std::uint64_t directory_changes_synced = 0;
  bool admitting = true;
  bool compacting = false;   // one cleanup pass at a time
  bool reinserting = false;  // one reinsertion at a time (design note 2)
  bool degraded = false;
  bool closed = false;
  std::error_code first_error;
  disk_tier_stats counts;
  // Not guarded by mu: recorded where I/O completes, before mu is taken.
  latency_histogram read_latency;
  latency_histogram write_latency;
  latency_histogram sync_latency;

  std::size_t region_count() const {
    return static_cast<std::size_t>(
        std::count_if(slots.begin(), slots.end(), [](const auto& r) { return r != nullptr; }));
  }

  // REQUIRES: mu held.
  void degrade(std::error_code error, std::string_view what) {
    ++counts.io_errors;
    if (degraded) return;
    degraded = true;
    first_error = error;
    log().error("disk tier {}: {} failed ({}); serving from memory only until reopened",
                directory.path().string(), what, error.message());
  }

  // Points the index at `where` for hash, and moves the live-byte counts from the location it
  // replaces. REQUIRES: mu held.
  void index_insert(std::uint64_t hash, disk::entry_location where) {
    if (auto old = index.insert(hash, where)) forget_live(*old);
    slots[where.region_slot]->live_bytes += where.size;
  }

  // Removes hash from the index (only if it still points at `where`, when given).
  // REQUIRES: mu held.
  bool index_erase(std::uint64_t hash, std::optional<disk::entry_location> where = std::nullopt) {
    const auto found = index.find(hash);
    if (!found || (where && *found != *where)) return false;
    index.erase(hash, *found);
    forget_live(*found);
    return true;
  }

  void forget_live(const disk::entry_location& where) {
    if (region* r = slots[where.region_slot].get()) r->live_bytes -= where.size;
  }

  // The live bytes of every region, from the index: after open. REQUIRES: mu held.
  void count_live_bytes() {
    for (auto& r : slots)
      if (r) r->live_bytes = 0;
    index.for_each([&](std::uint32_t, disk::entry_location where) {
      if (region* r = slots[where.region_slot].get()) r->live_bytes += where.size;
    });
  }

  // Evicts a written region: first records, durably, the keys it decided if an older region
  // might still hold earlier values of them (eviction_log.hpp). `moved` are keys it decided whose
  // entries reinsertion copied forward: listed too, so that if a crash lost the copies the scan
  // finds a miss, never an older value. Returns false, evicting nothing, when the record cannot
  // be written (the tier degrades). REQUIRES: mu held.
  // `reason` counts the entries that go with the region.
  bool evict(region& r, std::span<const std::uint32_t> moved = {},
             std::uint64_t disk_tier_stats::*reason = &disk_tier_stats::evicted_entries) {
    const bool older_exists =
        std::any_of(slots.begin(), slots.end(), [&](const auto& o) { return o && o->seq < r.seq; });
    if (older_exists) {
      std::vector<std::uint32_t> tags = r.tombstone_tags;
      tags.insert(tags.end(), moved.begin(), moved.end());
      index.for_each([&](std::uint32_t tag, disk::entry_location where) {
        if (where.region_slot == r.slot) tags.push_back(tag);
      });
      try {
        evictions.append(r.seq, tags);
      } catch (const std::system_error& e) {
        degrade(e.code(), "writing the eviction log");
        return false;
      }
    }
    counts.*reason += reclaim(r);
    return true;
  }

  // Drops a written region and its entries; returns how many entries the index lost.
  // REQUIRES: mu held, r written and not open.
  std::size_t reclaim(region& r) {
    const std::size_t dropped = index.erase_region(r.slot);
    std::error_code ec;
    fs::remove(directory.regions_path() / region_file_name(r.seq), ec);
    ++directory_changes;
    ++counts.regions_reclaimed;
    slots[r.slot].reset();
    return dropped;
  }

  // The region the budget evicts next: the oldest (fifo) or least recently read (lru) written
  // region, or null when every region is open, being written or having its entries moved.
  // REQUIRES: mu held.
  region* next_victim() {
    region* victim = nullptr;
    for (auto& r : slots) {
      if (!r || r->open || r->pending_writes != 0 || r->buffer || r->compacting) continue;
      const bool better = victim == nullptr || (options.eviction == region_eviction::lru
                                                    ? std::tie(r->last_read, r->seq) <
                                                          std::tie(victim->last_read, victim->seq)
                                                    : r->seq < victim->seq);
      if (better) victim = r.get();
    }
    return victim;
  }

  // Makes room for one more region within the budget. REQUIRES: mu held.
  bool make_room() {
    while (region_count() + 1 > max_regions) {
      region* victim = next_victim();
      if (victim == nullptr) return false;  // everything is still being written
      if (!evict(*victim)) return false;
    }
    return true;
  }

  // Once the budget is full, starts the reclaim of the region make_room would evict next, in
  // the background, if a get marked entries in it (design note 2). REQUIRES: mu held.
  void reinsert_ahead() {
    if (!options.reinsertion || reinserting || closed || degraded || region_count() < max_regions) {
      return;
    }
    region* victim = next_victim();
    if (victim == nullptr || victim->marks == 0) return;
    victim->compacting = true;
    reinserting = true;
    // Posted, not spawned here: co_spawn may start the coroutine inline, and it takes mu.
    asio::post(executor, [self = shared_from_this(), slot = victim->slot] {
      asio::co_spawn(self->executor, reinsert_and_evict(self, slot), asio::detached);
    });
  }

  static asio::awaitable<void> reinsert_and_evict(std::shared_ptr<state> self, std::uint16_t slot) {
    const relocation_result result = co_await self->relocate(slot, relocation::reinsertion);
    std::vector<std::function<void()>> wake;
    {
      std::lock_guard lock(self->mu);
      self->counts.reinsertions += result.entries_moved;
      self->counts.bytes_reinserted += result.bytes_moved;
      self->reinserting = false;
      wake.swap(self->room_waiters);
    }
    for (auto& w : wake)
      w();
  }

  // Sets the read mark of hash's entry, if it is still at `where`. REQUIRES: mu held.
  void mark_read(std::uint64_t hash, disk::entry_location where) {
    if (index.mark(hash, where)) ++slots[where.region_slot]->marks;
  }

  // Counts a get hit on the entry at `where` and marks it for reinsertion. Takes mu.
  void count_hit(std::uint64_t hash, disk::entry_location where) {
    std::lock_guard lock(mu);
    ++counts.hits;
    if (options.reinsertion) mark_read(hash, where);
  }

  // Ends r's life in memory: reads go to the file from now on. The buffer is kept for reuse
  // unless a reader still holds it. REQUIRES: mu held.
  void retire_buffer(region& r) {
    // use_count() == 1 cannot be stale: readers copy the pointer only under mu, from r.buffer.
    if (r.buffer.use_count() == 1 && spare_buffers.size() < max_regions_being_written) {
      spare_buffers.push_back(std::move(r.buffer));
    }
    r.buffer.reset();
  }

  // Opens a fresh region for puts. REQUIRES: mu held, no open region.
  region* open_new_region() {
    std::size_t being_written = 0;
    for (auto& r : slots)
      being_written += r && r->buffer && !r->open;
    if (being_written >= max_regions_being_written || !make_room()) return nullptr;
    auto free_slot = std::find(slots.begin(), slots.end(), nullptr);
    if (free_slot == slots.end()) return nullptr;
    auto r = std::make_unique<region>();
    r->seq = next_seq++;
    r->slot = static_cast<std::uint16_t>(free_slot - slots.begin());
    try {
      r->file = std::make_shared<io::file>(
          io::file::open(directory.regions_path() / region_file_name(r->seq),
                         {.write = true, .create = true, .direct = true}));
      // Reserve the blocks now: a full disk shows here, once, not in the middle of a write.
      r->file->allocate(0, options.region_size);
      if (spare_buffers.empty()) {
        r->buffer = std::make_shared<io::aligned_buffer>(options.region_size, block_size);
        r->buffer->advise_huge_pages();
        ++counts.region_buffers_allocated;
      } else {
        r->buffer = std::move(spare_buffers.back());
        spare_buffers.pop_back();
      }
    } catch (const std::system_error& e) {
      degrade(e.code(), std::string("creating region ") + region_file_name(r->seq));
      return nullptr;
    }
    // No need to clear the rest: write_out zeroes the padding it writes, and the bytes beyond
    // what was written are never read (the file's unwritten blocks read as zeros).
    disk::write_region_header(r->buffer->data(), r->seq);
    r->write_pos = region_header_size;
    r->open = true;
    ++directory_changes;
    open_region = r.get();
    region* raw = r.get();
    *free_slot = std::move(r);
    reinsert_ahead();
    return raw;
  }

  // Appends an already encoded entry (moved by compaction) to the open region. Returns where it
  // went, or nullopt when no region can take it now. REQUIRES: mu held.
  std::optional<disk::entry_location> append_encoded(std::span<const std::byte> encoded) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      region* r = open_region != nullptr ? open_region : open_new_region();
      if (r == nullptr) return std::nullopt;
      if (r->write_pos + encoded.size() <= r->buffer->size()) {
        std::memcpy(r->buffer->data() + r->write_pos, encoded.data(), encoded.size());
        const disk::entry_location where{r->slot, r->write_pos,
                                         static_cast<std::uint32_t>(encoded.size())};
        r->write_pos += static_cast<std::uint32_t>(encoded.size());
        write_filled_chunk(*r);
        return where;
      }
      if (r->write_pos == region_header_size) return std::nullopt;
      seal_open_region();
    }
    return std::nullopt;
  }

  // Copies the entries of region r (whose bytes are `bytes`) that `kind` selects into the open
  // region and points the index at the copies; expired entries leave the index instead. Returns
  // false when the open region could not take one (the device is behind); what was moved stays
  // moved. REQUIRES: mu held, r compacting.
  bool move_entries(region& r, std::span<const std::byte> bytes, relocation kind,
                    relocation_result& result) {
    const bool older_region_exists = std::any_of(
        slots.begin(), slots.end(), [&](const auto& other) { return other && other->seq < r.seq; });
    std::uint64_t allowance =
        kind == relocation::reinsertion
            ? static_cast<std::uint64_t>(options.reinsertion_share *
                                         static_cast<double>(options.region_size))
            : std::numeric_limits<std::uint64_t>::max();
    return disk::for_each_entry(bytes, [&](std::size_t pos, const disk::entry_view& e) {
      const auto encoded = bytes.subspan(pos, e.encoded_size);
      if (e.tombstone()) {
        // Still needed while an older region may hold the key it erased. A reinsertion leaves
        // them to evict(), whose record lists them.
        if (kind == relocation::compaction && older_region_exists) {
          const auto moved = append_encoded(encoded);
          if (!moved) return false;
          slots[moved->region_slot]->tombstone_tags.push_back(
              disk::disk_index::tag_of(hash_key(e.key)));
          result.appended = true;
        }
        return true;
      }
      const std::uint64_t hash = hash_key(e.key);
      const disk::entry_location here{r.slot, static_cast<std::uint32_t>(pos),
                                      static_cast<std::uint32_t>(e.encoded_size)};
      if (index.find(hash) != here) return true;  // superseded or erased: not moved
      const bool was_read = index.marked(hash);
      if (kind == relocation::reinsertion && !was_read) return true;
      if (expired(e.expires_at_unix_ns)) {
        index_erase(hash, here);
        ++result.expired_dropped;
        ++counts.expired_entries;
        return true;
      }
      // Over the bound: dropped with the region; a smaller entry further on may still fit.
      if (e.encoded_size > allowance) return true;
      const auto moved = append_encoded(encoded);
      if (!moved) return false;
      index_insert(hash, *moved);  // clears the mark
      slots[moved->region_slot]->note_expiry(e.expires_at_unix_ns);
      if (kind == relocation::compaction && was_read) {
        mark_read(hash, *moved);
      } else if (kind == relocation::reinsertion) {
        allowance -= e.encoded_size;
        result.moved_tags.push_back(disk::disk_index::tag_of(hash));
      }
      ++result.entries_moved;
      result.bytes_moved += e.encoded_size;
      result.appended = true;
      return true;
    });
  }

  // Compaction's and reinsertion's common path (design notes 2 and 7): reads region `slot`,
  // copies out what `kind` selects, makes the copies durable with a flush, and only then removes
  // the region, so that moving an entry never loses it if a flush had made it durable.
  // Compaction moved all the region decided and reclaims it; reinsertion evicts it (what it
  // still decided goes to the eviction log). The region stays, no longer compacting, when the
  // read or the flush fails, when compaction could not move everything, or when the tier has
  // closed meanwhile (its snapshot names the region). REQUIRES: the caller marked the region
  // compacting, under mu.
  asio::awaitable<relocation_result> relocate(std::uint16_t slot, relocation kind) {
    relocation_result result;
    std::shared_ptr<io::file> file;
    {
      std::lock_guard lock(mu);
      file = slots[slot]->file;
    }
    auto buffer = std::make_shared<io::aligned_buffer>(options.region_size, block_size);
    const io::io_result read = co_await io.read_at(file->fd(), buffer, 0, buffer->size(), 0);
    {
      std::lock_guard lock(mu);
      region& r = *slots[slot];
      bool moved_all = false;
      if (!read.ok()) {
        degrade(read.error, "reading region " + region_file_name(r.seq) +
                                (kind == relocation::compaction ? " to compact it"
                                                                : " to reinsert its entries"));
        result.error = read.error;
      } else if (!closed && !degraded) {
        moved_all =
            move_entries(r, std::span<const std::byte>(buffer->data(), read.bytes), kind, result);
      }
      if (!read.ok() || closed || degraded || (kind == relocation::compaction && !moved_all)) {
        r.compacting = false;
        co_return result;
      }
    }
    if (result.appended) {
      if (const std::error_code flushed = co_await flush()) {
        result.error = flushed;
        std::lock_guard lock(mu);
        slots[slot]->compacting = false;
        co_return result;
      }
    }
    std::lock_guard lock(mu);
    region& r = *slots[slot];
    r.compacting = false;
    if (closed) co_return result;
    if (kind == relocation::compaction) {
      counts.evicted_entries += reclaim(r);
      result.removed = true;
    } else if (next_victim() != &r) {
      // Reinsertion chose this region ahead of need. If it is no longer the one the budget would
      // evict (read since, under lru, or chosen while the others were still being written), it
      // stays: evicting it would drop its unmoved entries out of order. Its moved entries are
      // dead here, their copies live on.
    } else if (evict(r, result.moved_tags)) {
      result.removed = true;
    } else {
      result.error = first_error;
    }
    co_return result;
  }

  // Removes files the tier does not own: a snapshot's temporary file left by a crash in close(),
  // and region files that no region holds (a reclaim whose delete failed). Returns how many.
  std::size_t remove_orphans() {
    std::size_t removed = 0;
    std::error_code ec;
    if (fs::remove(directory.path() / "index.snapshot.tmp", ec)) ++removed;
    std::vector<std::uint64_t> candidates;
    for (const auto& item : fs::directory_iterator(directory.regions_path(), ec)) {
      if (auto seq = disk::region_seq_of(item.path())) candidates.push_back(*seq);
    }
    std::lock_guard lock(mu);
    for (std::uint64_t seq : candidates) {
      const bool owned =
          seq >= next_seq || std::any_of(slots.begin(), slots.end(),
                                         [&](const auto& r) { return r && r->seq == seq; });
      if (!owned && fs::remove(directory.regions_path() / region_file_name(seq), ec)) {
        ++removed;
        ++directory_changes;
      }
    }
    return removed;
  }

  // Starts a background write of r's buffer from flushed_pos to `end`. REQUIRES: mu held.
  void write_up_to(region& r, std::size_t end) {
    if (end <= r.flushed_pos) return;
    const std::size_t from = r.flushed_pos;
    r.flushed_pos = static_cast<std::uint32_t>(end);
    ++r.pending_writes;
    ++pending_writes;
    // Posted, not spawned here: co_spawn may start the coroutine inline, and it takes mu,
    // which the caller holds.
    asio::post(executor, [self = shared_from_this(), slot = r.slot, seq = r.seq, from,
                          length = end - from] {
      asio::co_spawn(self->executor, write_range(self, slot, seq, from, length), asio::detached);
    });
  }

  // Writes the open region's completed blocks once a chunk's worth has gathered; the block that
  // is still filling waits for the next chunk. REQUIRES: mu held.
  void write_filled_chunk(region& r) {
    // Small regions (tests, tiny caches) still get several writes each.
    const std::size_t chunk = std::min(write_chunk, options.region_size / 4);
    if (r.write_pos - r.flushed_pos >= chunk) {
      write_up_to(r, r.write_pos / block_size * block_size);
    }
  }

  // Hands all of r's unwritten bytes to a background write, padded to a block. REQUIRES: mu held.
  void write_out(region& r) {
    const std::size_t end =
        std::min<std::size_t>(round_up(r.write_pos, block_size), options.region_size);
    // The padding after the last entry reads as "end of region" to a scan.
    std::memset(r.buffer->data() + r.write_pos, 0, end - r.write_pos);
    write_up_to(r, end);
    // Later entries start on a fresh block (see block_size).
    r.write_pos = static_cast<std::uint32_t>(end);
  }

  // REQUIRES: mu held.
  void seal_open_region() {
    if (open_region == nullptr) return;
    region& r = *open_region;
    open_region = nullptr;
    r.open = false;
    write_out(r);
    if (r.pending_writes == 0) retire_buffer(r);
  }

  static asio::awaitable<void> write_range(std::shared_ptr<state> self, std::uint16_t slot,
                                           std::uint64_t seq, std::size_t offset,
                                           std::size_t length) {
    std::shared_ptr<io::file> file;
    std::shared_ptr<io::aligned_buffer> buffer;
    {
      std::lock_guard lock(self->mu);
      region* r = self->slots[slot].get();
      file = r->file;
      buffer = r->buffer;
    }
    const latency_timer timer;
    const io::io_result result =
        co_await self->io.write_at(file->fd(), buffer, offset, length, offset);
    timer.record(self->write_latency);
    // Let go of the buffer before retire_buffer() below counts its owners: a buffer this frame
    // still held would never go back to the spares, and every region would fault in a fresh one.
    buffer.reset();
    std::vector<std::function<void()>> wake;
    {
      std::lock_guard lock(self->mu);
      region* r = self->slots[slot].get();
      if (r != nullptr && r->seq == seq) {
        --r->pending_writes;
        ++r->writes_done;
        if (!r->open && r->pending_writes == 0) self->retire_buffer(*r);
      }
      ++self->counts.writes;
      self->counts.bytes_written += result.bytes;
      if (!result.ok()) {
        self->degrade(result.error, "writing region " + region_file_name(seq));
      } else if (result.bytes != length) {
        self->degrade(std::make_error_code(std::errc::io_error),
                      "writing region " + region_file_name(seq) + " (short write)");
      }
      wake.swap(self->room_waiters);
      if (--self->pending_writes == 0) {
        wake.insert(wake.end(), std::make_move_iterator(self->write_waiters.begin()),
                    std::make_move_iterator(self->write_waiters.end()));
        self->write_waiters.clear();
      }
    }
    for (auto& w : wake)
      w();
  }

  // Resumes once every write in progress has finished (`all`), or once any one of them, or the
  // reinsertion in progress (which holds a region make_room cannot take), has.
  asio::awaitable<void> wait_for_writes(bool all = true) {
    co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(
        [this, all](auto handler) {
          auto done = detail::posted_completion<>(std::move(handler));
          std::unique_lock lock(mu);
          if (pending_writes == 0 && (all || !reinserting)) {
            lock.unlock();
            done();
            return;
          }
          (all ? write_waiters : room_waiters).push_back(std::move(done));
        },
        asio::use_awaitable);
  }

  // disk_tier::flush(), here so that a background reinsertion can flush too.
  asio::awaitable<std::error_code> flush() {
    {
      std::lock_guard lock(mu);
      if (open_region != nullptr) write_out(*open_region);
    }
    co_await wait_for_writes();
    struct file_to_sync {
      std::shared_ptr<io::file> file;
      std::uint16_t slot;
      std::uint64_t seq;
      std::uint64_t writes_done;
    };
    std::vector<file_to_sync> to_sync;
    std::uint64_t changes = 0;
    bool sync_directory = false;
    {
      std::lock_guard lock(mu);
      if (degraded) co_return first_error;
      for (auto& r : slots) {
        if (r && r->writes_done != r->writes_synced) {
          to_sync.push_back({r->file, r->slot, r->seq, r->writes_done});
        }
      }
      changes = directory_changes;
      sync_directory = changes != directory_changes_synced;
    }
    for (const auto& f : to_sync) {
      const latency_timer timer;
      const io::io_result result = co_await io.fsync(f.file->fd(), true);
      timer.record(sync_latency);
      std::lock_guard lock(mu);
      if (!result.ok()) {
        degrade(result.error, "syncing " + f.file->path().filename().string());
        co_return result.error;
      }
      region* r = slots[f.slot].get();
      if (r != nullptr && r->seq == f.seq) {
        r->writes_synced = std::max(r->writes_synced, f.writes_done);
      }
    }
    if (sync_directory) {
      try {
        disk::sync_directory(directory.regions_path());
      } catch (const std::system_error& e) {
        std::lock_guard lock(mu);
        degrade(e.code(), "syncing the regions directory");
        co_return e.code();
      }
      std::lock_guard lock(mu);
      directory_changes_synced = std::max(directory_changes_synced, changes);
    }
    co_return std::error_code{};
  }

  // Adds what one region holds to the index (disk/region_replay.hpp). REQUIRES: mu held.
  void scan_region(region& r, std::span<const std::byte> bytes,
                   const std::unordered_map<std::uint32_t, std::uint64_t>& superseded) {
    disk::replay_region(
        index, r.slot, r.seq, bytes, superseded,
        [&](std::size_t, const disk::entry_view&, std::uint32_t tag, disk::replay_outcome outcome) {
          if (outcome == disk::replay_outcome::tombstone) r.tombstone_tags.push_back(tag);
        });
  }

  std::vector<std::byte> snapshot_bytes() const {
    std::vector<std::byte> out;
    store(out, snapshot_magic);
    store(out, snapshot_version);
    store(out, next_seq);
    store<std::uint64_t>(out, region_count());
    for (const auto& r : slots) {
      if (!r) continue;
      store(out, r->seq);
      store<std::uint64_t>(out, r->slot);
      store<std::uint64_t>(out, r->tombstone_tags.size());
      for (std::uint32_t tag : r->tombstone_tags)
        store(out, tag);
    }
    store<std::uint64_t>(out, index.size());
    index.for_each([&](std::uint32_t tag, disk::entry_location where) {
      store(out, tag);
      store(out, where.pack());
    });
    store<std::uint64_t>(out, XXH3_64bits(out.data(), out.size()));
    return out;
  }
};

asio::awaitable<std::unique_ptr<disk_tier>> disk_tier::open(executor_type executor, io::file_io& io,
                                                            disk_tier_options options) {
  if (options.region_size < 2 * block_size || options.region_size % block_size != 0 ||
      options.region_size > disk::max_region_size) {
    throw std::invalid_argument(
        "disk tier: region_size must be a multiple of 4096 between 8 KiB "
        "and 128 MiB, not " +
        std::to_string(options.region_size));
  }
  if (options.capacity_bytes < 2 * options.region_size ||
      options.capacity_bytes / options.region_size > 60000) {
    throw std::invalid_argument(
        "disk tier: capacity_bytes must hold between 2 and 60000 regions of region_size");
  }
  if (!(options.reinsertion_share >= 0 && options.reinsertion_share <= 0.5)) {
    throw std::invalid_argument("disk tier: reinsertion_share must be between 0 and 0.5, not " +
                                std::to_string(options.reinsertion_share));
  }
  auto directory = disk::cache_directory::open(options.path, {.region_size = options.region_size});
  auto s = std::make_shared<state>(executor, io, options, std::move(directory));

  const std::map<std::uint64_t, fs::path> files =
      disk::list_region_files(s->directory.regions_path());
  auto open_existing = [&](std::uint64_t seq, std::uint16_t slot) {
    auto r = std::make_unique<region>();
    r->seq = seq;
    r->slot = slot;
    r->file = std::make_shared<io::file>(
        io::file::open(files.at(seq), {.write = true, .create = false, .direct = true}));
    s->next_seq = std::max(s->next_seq, seq + 1);
    r->latest_expiry = region::never_expires;  // not known for what was written before
    region* raw = r.get();
    s->slots[slot] = std::move(r);
    return raw;
  };

  // A snapshot from a clean close, if it is intact and names exactly the region files present.
  bool loaded = false;
  const fs::path snapshot = s->directory.snapshot_path();
  if (fs::exists(snapshot)) {
    std::ifstream in(snapshot, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(raw.data()), raw.size());
    std::uint64_t sum = 0;
    if (bytes.size() > 8) std::memcpy(&sum, bytes.data() + bytes.size() - 8, 8);
    std::span<const std::byte> in_bytes = bytes.first(bytes.size() > 8 ? bytes.size() - 8 : 0);
    std::uint32_t magic = 0;
    std::uint32_t version = 0;
    std::uint64_t next_seq = 0;
    std::uint64_t region_count = 0;
    bool ok = bytes.size() > 8 && sum == XXH3_64bits(in_bytes.data(), in_bytes.size()) &&
              load(in_bytes, magic) && magic == snapshot_magic && load(in_bytes, version) &&
              version == snapshot_version && load(in_bytes, next_seq) &&
              load(in_bytes, region_count) && region_count == files.size() &&
              region_count <= s->slots.size();
    struct listed_region {
      std::uint64_t seq = 0;
      std::uint64_t slot = 0;
      std::vector<std::uint32_t> tombstone_tags;
    };
    std::vector<listed_region> regions;
    for (std::uint64_t i = 0; ok && i < region_count; ++i) {
      listed_region r;
      std::uint64_t tombstones = 0;
      ok = load(in_bytes, r.seq) && load(in_bytes, r.slot) && files.count(r.seq) == 1 &&
           r.slot < s->slots.size() && load(in_bytes, tombstones) &&
           tombstones <= in_bytes.size() / 4;
      for (std::uint64_t t = 0; ok && t < tombstones; ++t) {
        std::uint32_t tag = 0;
        ok = load(in_bytes, tag);
        r.tombstone_tags.push_back(tag);
      }
      regions.push_back(std::move(r));
    }
    std::uint64_t entries = 0;
    ok = ok && load(in_bytes, entries) && in_bytes.size() == entries * 12;
    if (ok) {
      for (auto& r : regions) {
        open_existing(r.seq, static_cast<std::uint16_t>(r.slot))->tombstone_tags =
            std::move(r.tombstone_tags);
      }
      s->next_seq = std::max(s->next_seq, next_seq);
      s->index.reserve(entries);  // the snapshot lists entries in tag order
      for (std::uint64_t i = 0; i < entries; ++i) {
        std::uint32_t tag = 0;
        std::uint64_t packed = 0;
        load(in_bytes, tag);
        load(in_bytes, packed);
        s->index.insert(std::uint64_t{tag} << 32, disk::entry_location::unpack(packed));
      }
      loaded = true;
    } else {
      log().warn("disk tier {}: index snapshot is damaged or stale; rebuilding by scanning",
                 options.path.string());
    }
    // From here on the snapshot would describe the past: remove it before anything is written.
    fs::remove(snapshot);
    disk::sync_directory(s->directory.path());
  }

  if (!loaded) {
    // After a crash: scan every region in sequence order.
    const auto superseded = s->evictions.load();
    std::uint16_t slot = 0;
    for (const auto& [seq, path] : files) {
      if (slot >= s->slots.size()) break;
      region* r = open_existing(seq, slot++);
      const std::uint64_t size = r->file->size();
      auto buffer = std::make_shared<io::aligned_buffer>(round_up(size, block_size), block_size);
      const io::io_result read = co_await io.read_at(r->file->fd(), buffer, 0, buffer->size(), 0);
      std::lock_guard lock(s->mu);
      if (!read.ok()) {
        s->degrade(read.error, "reading region " + region_file_name(seq) + " during recovery");
        break;
      }
      std::span<const std::byte> bytes(buffer->data(), read.bytes);
      s->scan_region(*r, bytes, superseded);
    }
    s->counts.recovered_by_scan = !files.empty();
    if (!files.empty()) {
      log().info("disk tier {}: rebuilt the index of {} region(s) by scanning: {} entries",
                 options.path.string(), files.size(), s->index.size());
    }
  }
  {
    std::lock_guard lock(s->mu);
    s->count_live_bytes();
    // A smaller budget than last time: drop the oldest regions.
    while (s->region_count() > s->max_regions && s->make_room()) {
    }
  }
  co_return adopt(std::move(s));
}

// Outside the coroutine: GCC 12 mistakes a `new` inside one for the frame's allocation.
std::unique_ptr<disk_tier> disk_tier::adopt(std::shared_ptr<state> s) {
  return std::unique_ptr<disk_tier>(new disk_tier(std::move(s)));
}

disk_tier::~disk_tier() = default;

disk_tier::admission disk_tier::append(std::string_view key, std::span<const std::byte> value,
                                       std::chrono::system_clock::time_point expires_at) {
  state& s = *state_;
  const std::uint64_t hash = hash_key(key);
  std::lock_guard lock(s.mu);
  if (key.size() > disk::max_key_size || value.size() > s.options.region_size || s.degraded ||
      s.closed || !s.admitting) {
    ++s.counts.rejections;
    return admission::refused;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    region* r = s.open_region != nullptr ? s.open_region : s.open_new_region();
    if (r == nullptr) {
      if (s.degraded) break;
      ++s.counts.rejections;
      return admission::backlogged;
    }
    std::span<std::byte> room(r->buffer->data() + r->write_pos, r->buffer->size() - r->write_pos);
    if (auto n = disk::encode_entry(room, key, value, to_unix_ns(expires_at), s.compression)) {
      s.index_insert(hash, {r->slot, r->write_pos, static_cast<std::uint32_t>(*n)});
      r->note_expiry(to_unix_ns(expires_at));
      r->write_pos += static_cast<std::uint32_t>(*n);
      ++s.counts.insertions;
      s.write_filled_chunk(*r);
      return admission::stored;
    }
    if (r->write_pos == region_header_size) break;  // does not fit even an empty region
    s.seal_open_region();
  }
  ++s.counts.rejections;
  return admission::refused;
}

bool disk_tier::try_put(std::string_view key, std::span<const std::byte> value,
                        std::chrono::system_clock::time_point expires_at) {
  return append(key, value, expires_at) == admission::stored;
}

asio::awaitable<bool> disk_tier::put(std::string_view key, std::span<const std::byte> value,
                                     std::chrono::system_clock::time_point expires_at) {
  while (true) {
    switch (append(key, value, expires_at)) {
      case admission::stored:
        co_return true;
      case admission::refused:
        co_return false;
      case admission::backlogged:
        co_await state_->wait_for_writes(false);
        break;
    }
  }
}

bool disk_tier::erase(std::string_view key) {
  state& s = *state_;
  const std::uint64_t hash = hash_key(key);
  std::lock_guard lock(s.mu);
  const bool had = s.index_erase(hash);
  if (!had || s.degraded || s.closed) return had;
  // The tombstone keeps the key erased when a crash makes the next open scan the log.
  for (int attempt = 0; attempt < 2; ++attempt) {
    region* r = s.open_region != nullptr ? s.open_region : s.open_new_region();
    if (r == nullptr) break;
    std::span<std::byte> room(r->buffer->data() + r->write_pos, r->buffer->size() - r->write_pos);
    if (auto n = disk::encode_tombstone(room, key)) {
      r->write_pos += static_cast<std::uint32_t>(*n);
      r->tombstone_tags.push_back(disk::disk_index::tag_of(hash));
      break;
    }
    s.seal_open_region();
  }
  return had;
}

asio::awaitable<std::optional<blob>> disk_tier::get(std::string_view key) {
  state& s = *state_;
  const std::uint64_t hash = hash_key(key);
  std::optional<disk::entry_location> where;
  std::shared_ptr<io::aligned_buffer> in_memory;
  std::shared_ptr<io::file> file;
  {
    std::lock_guard lock(s.mu);
    where = s.degraded ? std::nullopt : s.index.find(hash);
    if (!where) {
      ++s.counts.misses;
      co_return std::nullopt;
    }
    region& r = *s.slots[where->region_slot];
    r.last_read = ++s.read_clock;
    // Bytes not yet on disk (or still being written) are read from the region's buffer: entry
    // bytes never change once encoded, so reading them outside the lock is safe.
    if (r.buffer) {
      in_memory = r.buffer;
    } else {
      file = r.file;
    }
  }
  std::span<const std::byte> bytes;
  std::shared_ptr<io::aligned_buffer> read_buffer;
  bool registered = false;
  if (in_memory) {
    bytes = std::span<const std::byte>(in_memory->data() + where->offset, where->size);
  } else {
    const std::size_t align = std::max<std::size_t>(file->required_alignment(), 1);
    const std::uint64_t first = where->offset / align * align;
    const std::size_t length = round_up(where->offset + where->size - first, align);
    // A read goes into one of the ring's registered buffers when one is free: the kernel then
    // pins no pages for it (ring.hpp, design note 8).
    if (length >= registered_read_from && align <= 4096)
      read_buffer = s.io.registered_buffer(length);
    registered = read_buffer != nullptr;
    if (!registered) {
      read_buffer = std::make_shared<io::aligned_buffer>(length, std::max(align, std::size_t{16}));
    }
    const latency_timer timer;
    const io::io_result result = co_await s.io.read_at(file->fd(), read_buffer, 0, length, first);
    timer.record(s.read_latency);
    std::lock_guard lock(s.mu);
    ++s.counts.reads;
    s.counts.bytes_read += result.bytes;
    if (!result.ok() || result.bytes < where->offset - first + where->size) {
      s.degrade(result.ok() ? std::make_error_code(std::errc::io_error) : result.error,
                "reading an entry");
      ++s.counts.misses;
      co_return std::nullopt;
    }
    bytes = std::span<const std::byte>(read_buffer->data() + (where->offset - first), where->size);
  }
  disk::entry_view e;
  const auto status = disk::decode_entry(bytes, e);
  if (status == disk::decode_status::ok && e.key == key && !e.tombstone()) {
    if (expired(e.expires_at_unix_ns)) {
      std::lock_guard lock(s.mu);
      s.index_erase(hash, *where);
      ++s.counts.misses;
      ++s.counts.expired_entries;
      co_return std::nullopt;
    }
    // A large raw value is handed out in place: the blob keeps the read buffer alive, which
    // costs at most a block and the header beyond the value and saves copying it. Small values
    // are copied, so the memory tier does not hold a block for a few bytes, and so are values
    // read into a registered buffer, which must go back to the ring's small pool now.
    constexpr std::size_t zero_copy_from = 16 << 10;
    if (read_buffer && !registered && !e.compressed() && e.value_size >= zero_copy_from) {
      s.count_hit(hash, *where);
      co_return blob::adopt(e.stored, std::shared_ptr<const void>(read_buffer));
    }
    if (auto value = disk::decode_value(e)) {
      s.count_hit(hash, *where);
      co_return value;
    }
  }
  std::lock_guard lock(s.mu);
  ++s.counts.misses;
  if (status == disk::decode_status::ok && e.key != key) co_return std::nullopt;  // tag collision
  // A checksum that does not verify, or a value that does not decompress: never returned.
  ++s.counts.checksum_failures;
  s.index_erase(hash, *where);
  log().warn("disk tier {}: entry for key \"{}\" failed its checksum; dropped",
             s.options.path.string(), key);
  co_return std::nullopt;
}

bool disk_tier::contains(std::string_view key) const {
  const state& s = *state_;
  const std::uint64_t hash = hash_key(key);
  std::lock_guard lock(s.mu);
  return !s.degraded && s.index.find(hash).has_value();
}

void disk_tier::set_admitting(bool admitting) {
  std::lock_guard lock(state_->mu);
  state_->admitting = admitting;
}

asio::awaitable<disk_cleanup_report> disk_tier::cleanup() {
  state& s = *state_;
  disk_cleanup_report report;
  std::vector<std::pair<std::uint16_t, std::uint64_t>> victims;  // slot, seq
  {
    std::lock_guard lock(s.mu);
    if (s.degraded || s.closed || s.compacting) co_return report;
    s.compacting = true;
    // Regions whose every entry has expired go without being read.
    const std::int64_t now = to_unix_ns(std::chrono::system_clock::now());
    for (auto& r : s.slots) {
      if (r && !r->open && r->pending_writes == 0 && !r->buffer && !r->compacting &&
          r->latest_expiry != 0 && r->latest_expiry != region::never_expires &&
          r->latest_expiry <= now) {
        if (!s.evict(*r, {}, &disk_tier_stats::expired_entries)) break;
        ++report.regions_expired;
      }
    }
    while (s.region_count() > s.max_regions) {
      const std::size_t before = s.region_count();
      if (!s.make_room() || s.region_count() == before) break;
      report.regions_over_budget += before - s.region_count();
    }
    std::vector<std::tuple<std::uint64_t, std::uint16_t, std::uint64_t>> sparse;
    const auto limit = static_cast<std::uint64_t>(s.options.compact_below *
                                                  static_cast<double>(s.options.region_size));
    for (const auto& r : s.slots) {
      if (r && !r->open && r->pending_writes == 0 && !r->buffer && !r->compacting &&
          r->live_bytes < limit) {
        sparse.emplace_back(r->live_bytes, r->slot, r->seq);
      }
    }
    std::sort(sparse.begin(), sparse.end());
    for (const auto& [live, slot, seq] : sparse) {
      if (victims.size() == s.options.max_compactions_per_pass) break;
      victims.emplace_back(slot, seq);
    }
  }
  report.orphans_removed = s.remove_orphans();

  for (const auto& [slot, seq] : victims) {
    {
      std::lock_guard lock(s.mu);
      region* r = s.slots[slot].get();
      if (r == nullptr || r->seq != seq || r->compacting) continue;  // reclaimed or being moved
      r->compacting = true;
    }
    const relocation_result moved = co_await s.relocate(slot, relocation::compaction);
    report.entries_moved += moved.entries_moved;
    report.bytes_moved += moved.bytes_moved;
    report.expired_dropped += moved.expired_dropped;
    if (!moved.removed) {  // the device is behind or failing: the region stays, still valid
      report.error = moved.error;
      break;
    }
    ++report.regions_compacted;
    std::lock_guard lock(s.mu);
    ++s.counts.regions_compacted;
  }
  {
    std::lock_guard lock(s.mu);
    s.compacting = false;
  }
  co_return report;
}

asio::awaitable<std::error_code> disk_tier::flush() {
  co_return co_await state_->flush();
}

asio::awaitable<std::error_code> disk_tier::close() {
  state& s = *state_;
  {
    std::lock_guard lock(s.mu);
    s.seal_open_region();
  }
  const std::error_code flushed = co_await flush();
  std::lock_guard lock(s.mu);
  s.closed = true;
  if (flushed) co_return flushed;
  std::uint64_t oldest = s.next_seq;
  for (const auto& r : s.slots)
    if (r) oldest = std::min(oldest, r->seq);
  try {
    s.evictions.prune(oldest);
  } catch (const std::system_error& e) {
    log().warn("disk tier {}: could not prune the eviction log: {}", s.options.path.string(),
               e.what());
  }
  const auto bytes = s.snapshot_bytes();
  const fs::path tmp = s.directory.path() / "index.snapshot.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) co_return std::make_error_code(std::errc::io_error);
  }
  std::error_code ec;
  fs::rename(tmp, s.directory.snapshot_path(), ec);
  if (!ec) {
    try {
      disk::sync_directory(s.directory.path());
    } catch (const std::system_error& e) {
      ec = e.code();
    }
  }
  co_return ec;
}

const disk_tier_options& disk_tier::options() const noexcept {
  return state_->options;
}

disk_tier_stats disk_tier::stats() const {
  const state& s = *state_;
  std::lock_guard lock(s.mu);
  disk_tier_stats out = s.counts;
  out.entries = s.index.size();
  out.regions = s.region_count();
  out.bytes_used = out.regions * s.options.region_size;
  out.capacity_bytes = s.options.capacity_bytes;
  out.index_bytes_per_entry = s.index.bytes_per_entry();
  for (const auto& r : s.slots)
    if (r) out.live_bytes += r->live_bytes;
  out.admitting = s.admitting;
  out.writes_in_flight = s.pending_writes;
  out.regions_reinserting = s.reinserting ? 1 : 0;
  out.degraded = s.degraded;
  out.read_latency = s.read_latency.summary();
  out.write_latency = s.write_latency.summary();
  out.sync_latency = s.sync_latency.summary();
  return out;
}

}  // namespace larder
