// resource_manager: whether the host is running short of memory or of disk space for the cache
// (issue 4's ResourceManager).
//
// sample() reads the memory this process can still take (the lower of /proc/meminfo's
// MemAvailable and what its cgroups, v1 or v2, still allow; see system_memory.hpp) and the space
// still free for unprivileged writers on the filesystem holding the disk tier's directory, and
// compares them with the floors of cache.resources. A figure exactly at its floor is not low.
// Acting on a sample is the caller's part: per issue 4 the cleanup service (not written yet) is to
// sample every resources.check_interval, shrink the memory tier when memory is low and stop the
// disk tier admitting when the disk is, logging the sample's figures and the floor as the reason.
//
// The figures come from a host_resources, so a test can inject its own functions or point them at
// a fake /proc and /sys tree. The manager keeps no state besides its construction arguments.
//
// Thread safety: sample() may be called from several threads at once, provided the host's
// functions may (the default ones may). Immutable after construction.
#pragma once

#include <cstdint>
#include <filesystem>

#include <larder/config/cache_config.hpp>
#include <larder/config/host_resources.hpp>

namespace larder {

struct resource_sample {
  std::uint64_t available_memory_bytes = 0;
  std::uint64_t free_disk_bytes = 0;
  // available_memory_bytes < floors().min_available_memory_bytes
  bool memory_low = false;
  // free_disk_bytes < floors().min_free_disk_bytes
  bool disk_low = false;

  bool operator==(const resource_sample&) const = default;
};

class resource_manager {
 public:
  // `disk_path` is the disk tier's directory; it need not exist yet (the free space is then that of
  // its nearest existing ancestor's filesystem).
  resource_manager(const resources_config& floors, std::filesystem::path disk_path,
                   host_resources host = {});
  // The floors and disk path of a loaded configuration.
  explicit resource_manager(const cache_config& config, host_resources host = {});

  // Reads both figures now. Throws what the host's functions throw: std::runtime_error when
  // /proc/meminfo cannot be read, std::filesystem::filesystem_error when the free space cannot.
  resource_sample sample() const;

  const resources_config& floors() const noexcept { return floors_; }
  const std::filesystem::path& disk_path() const noexcept { return disk_path_; }

 private:
  resources_config floors_;
  std::filesystem::path disk_path_;
  host_resources host_;
};

}  // namespace larder
