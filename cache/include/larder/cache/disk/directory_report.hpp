// directory_report: what an operator learns about a disk tier's directory without opening the
// tier (`larder stat`, `larder verify`).
//
// 1. Reading. Both functions read the manifest and every region file with plain reads, and walk
//    the entries with the disk tier's own walker (disk/region_file.hpp), so they see exactly
//    what the tier would. Entries are live or dead as a crash-recovery scan would rebuild the
//    index (disk/region_replay.hpp): live is the newest value of each key not erased by a later
//    tombstone and not expired; dead is every other value (superseded, erased, expired) and every
//    tombstone. The format keeps no write time per entry, so ages are those of the region files
//    (their modification time: when the region was last written).
// 2. Locks. inspect_cache_directory() and verify_cache_directory() without repair only read, and
//    work while a running cache holds the directory's lock: they report its pid, and what they
//    read may race that process's writes. Repair writes, so it takes the lock the way a disk
//    tier does (disk/cache_directory.hpp) and is refused, naming the holder's pid, while another
//    process has the directory open.
// 3. Damage. verify reports each stretch of a region that does not decode: a corrupt entry when
//    intact entries follow it in the region, a torn tail when none does (the write a crash cut
//    short; normal after a crash, and not corruption), and region headers that do not verify.
// 4. Repair, and why it is enough. Every reader of the format checks an entry's checksum before
//    using it: a get of a damaged entry is a miss, the recovery scan and compaction skip it. So
//    no open ever returns the damaged bytes, repaired or not. Repair therefore rewrites nothing
//    that verified: it overwrites each damaged stretch and torn tail with zeros (which the walker
//    steps over like padding, so the entries after it are found as before, and which can never
//    decode as an entry, so a repair cut short by a crash leaves damage or zeros, never wrong
//    bytes), rewrites a damaged region header from the region's file name (its entries then count
//    again), and fdatasyncs each file it changed. It keeps the index snapshot on purpose: a
//    snapshot that points at a cleared entry makes that key a miss, where a rescan could bring
//    back an older value of the key from an earlier region. After a repair, verify is clean.
//
// Functions, no shared state: safe to call from any thread; concurrent repairs of one directory
// exclude each other through its lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "larder/cache/disk/directory_error.hpp"

namespace larder::disk {

// Live entries whose region was written less than `younger_than` ago (the last bucket: any age).
struct age_bucket {
  std::string label;
  std::chrono::seconds younger_than;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

struct directory_report {
  std::filesystem::path path;
  std::uint64_t format_version = 0;
  std::uint64_t region_size = 0;
  std::uint64_t region_files = 0;
  std::uint64_t file_bytes = 0;  // sizes of the region files
  // Entry counts and their encoded bytes (header, key, value, padding), note 1.
  std::uint64_t live_entries = 0;
  std::uint64_t live_bytes = 0;
  std::uint64_t dead_entries = 0;  // values superseded, erased or expired, and tombstones
  std::uint64_t dead_bytes = 0;
  std::uint64_t expired_entries = 0;      // of the dead: newest values past their expiry
  std::uint64_t tombstones = 0;           // of the dead
  std::vector<age_bucket> live_ages;      // by region file modification time
  bool index_snapshot = false;            // closed cleanly: the next open loads the index
  std::optional<std::string> lock_owner;  // pid of the process holding the directory

  // live_bytes / (live_bytes + dead_bytes); 0 when there are no entries.
  double live_share() const noexcept;
};

// Reads the directory (note 1). Throws directory_error when `path` is not a larder cache directory
// or has a format this larder does not read, std::system_error or std::filesystem::filesystem_error
// on I/O errors.
directory_report inspect_cache_directory(const std::filesystem::path& path);

enum class damage_kind { corrupt_entry, region_header, torn_tail };

struct damaged_stretch {
  damage_kind kind = damage_kind::corrupt_entry;
  std::string region_file;   // file name in regions/
  std::uint64_t offset = 0;  // bytes from the region file's start
  std::uint64_t length = 0;
};

struct verify_options {
  bool repair = false;           // note 4; takes the directory's lock
  std::size_t max_listed = 100;  // damaged stretches listed in the report (all are counted)
};

struct verify_report {
  std::uint64_t regions = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t entries_checked = 0;  // intact entries, values and tombstones
  std::uint64_t corrupt = 0;          // corrupt entries and damaged region headers
  std::uint64_t torn_tails = 0;
  std::vector<damaged_stretch> damage;    // the first max_listed, in directory order
  bool repaired = false;                  // repair cleared every damaged stretch counted
  std::optional<std::string> lock_owner;  // read while this process held the directory

  bool clean() const noexcept { return corrupt == 0; }
};

// Called after each chunk read: bytes of region files read so far, and their total.
using verify_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// Checks every entry of every region (notes 3 and 4). Throws as inspect_cache_directory(), and
// with repair also directory_error when another process holds the directory.
verify_report verify_cache_directory(const std::filesystem::path& path,
                                     const verify_options& options,
                                     const verify_progress& progress = {});

}  // namespace larder::disk
