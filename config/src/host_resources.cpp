#include <cerrno>
#include <sys/statvfs.h>
#include <system_error>

#include <larder/config/host_resources.hpp>

#include "directory_check.hpp"

namespace larder {

std::uint64_t filesystem_capacity_bytes(const std::filesystem::path& dir) {
  return std::filesystem::space(nearest_existing_ancestor(dir)).capacity;
}

std::uint64_t free_disk_bytes(const std::filesystem::path& dir) {
  const std::filesystem::path existing = nearest_existing_ancestor(dir);
  struct statvfs info {};
  if (::statvfs(existing.c_str(), &info) != 0) {
    const std::error_code error{errno, std::system_category()};
    throw std::filesystem::filesystem_error("cannot read free disk space", existing, error);
  }
  return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

}  // namespace larder
