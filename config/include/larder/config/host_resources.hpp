// host_resources: the figures of the machine that configuration and the resource floors depend on.
//
// Memory sizes ("cache.memory.size: 30%", the profile sizes, CACHE_MEMORY_SIZE,
// cache.resources.min_available_memory) are shares of the memory this process can still take; the
// disk size and cache.resources.min_free_disk are shares of the capacity of the filesystem that
// holds (or will hold) the disk tier's directory. The loader asks only when a percentage is
// written. resource_manager asks for available memory and free disk space on every sample.
// A default-constructed host_resources reads the running system; tests replace any of the
// functions (for instance with available_memory_bytes(fake_root)).
//
// Plain value: copy freely. The default functions are safe to call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include <larder/config/system_memory.hpp>

namespace larder {

// Capacity in bytes of the filesystem holding `dir`, or that would hold it once created: the
// filesystem of its nearest existing ancestor. Throws std::filesystem::filesystem_error.
std::uint64_t filesystem_capacity_bytes(const std::filesystem::path& dir);

// Bytes an unprivileged process can still write on that same filesystem (statvfs: f_bavail x
// f_frsize, so space reserved for root does not count). Throws std::filesystem::filesystem_error.
std::uint64_t free_disk_bytes(const std::filesystem::path& dir);

struct host_resources {
  // May throw; the loader reports the failure against the setting that asked.
  std::function<std::uint64_t()> available_memory = [] { return available_memory_bytes(); };
  std::function<std::uint64_t(const std::filesystem::path&)> filesystem_capacity =
      [](const std::filesystem::path& dir) { return filesystem_capacity_bytes(dir); };
  std::function<std::uint64_t(const std::filesystem::path&)> free_disk =
      [](const std::filesystem::path& dir) { return free_disk_bytes(dir); };
};

}  // namespace larder
