// cache_directory: the on-disk home of a disk tier, and the rules that keep two writers out.
//
// A directory holds:
//   manifest         format version and the settings that must not change under existing data
//                    (region size); written once, atomically (temporary file, fsync, rename)
//   lock             flock()ed for as long as the directory is open; holds the owner's pid
//   regions/NNN...   the region files (disk_tier's business)
//   index.snapshot   the index written at a clean close (disk_tier's business)
//
// open() refuses, with a directory_error that says what to do: a directory another process (or
// another disk tier in this one) has open; a manifest of an unknown format version (never
// overwritten); a manifest whose settings differ from the ones asked for; a path that is not a
// directory or cannot be created.
//
// Owns the lock until destroyed. Move-only. Not thread-safe; immutable after open().
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "larder/cache/disk/directory_error.hpp"

namespace larder::disk {

inline constexpr std::uint32_t directory_format_version = 1;

struct directory_settings {
  std::uint64_t region_size = 0;
};

class cache_directory {
 public:
  // Opens or creates the directory. Throws directory_error.
  static cache_directory open(const std::filesystem::path& path,
                              const directory_settings& settings);

  cache_directory(cache_directory&& other) noexcept;
  cache_directory& operator=(cache_directory&& other) noexcept;
  cache_directory(const cache_directory&) = delete;
  cache_directory& operator=(const cache_directory&) = delete;
  ~cache_directory();

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path regions_path() const { return path_ / "regions"; }
  std::filesystem::path snapshot_path() const { return path_ / "index.snapshot"; }
  const directory_settings& settings() const noexcept { return settings_; }
  // Whether open() created the manifest (a new, empty cache).
  bool created() const noexcept { return created_; }

 private:
  cache_directory(std::filesystem::path path, directory_settings settings, int lock_fd,
                  bool created)
      : path_(std::move(path)), settings_(settings), lock_fd_(lock_fd), created_(created) {}

  std::filesystem::path path_;
  directory_settings settings_;
  int lock_fd_ = -1;
  bool created_ = false;
};

// What a directory's manifest says, read without taking the lock (for the read-only tools).
struct manifest {
  std::uint64_t format_version = 0;
  std::uint64_t region_size = 0;
};
// Throws directory_error when `path` is not a directory or has no readable manifest (it is not
// a larder cache directory).
manifest read_manifest(const std::filesystem::path& path);

// The pid written in the lock file of `path` if a process holds its lock, else nullopt ("unknown"
// when the holder wrote none). Probes with a shared flock that it releases at once, so a cache
// opening the directory in that instant may be refused; for operators' tools, not for caches.
std::optional<std::string> lock_owner(const std::filesystem::path& path);

// Makes a rename or a file creation in `dir` durable (fsync of the directory).
void sync_directory(const std::filesystem::path& dir);

}  // namespace larder::disk
