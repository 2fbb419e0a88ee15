#include "directory_check.hpp"

#include <cerrno>
#include <linux/magic.h>
#include <optional>
#include <sys/statfs.h>
#include <unistd.h>

#include <larder/config/config_error.hpp>

namespace larder {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view accepted_directories =
    "use a directory this process can create or write to";

// Why nothing can be created in `dir`, or nullopt when something can.
std::optional<std::string> why_not_writable(const fs::path& dir) {
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return errno == EROFS ? "is on a read-only filesystem" : "is not writable";
  }
  // access() grants root everything on /proc and /sys, yet their directories accept no new
  // entries from anyone.
  struct statfs fs_info {};
  if (::statfs(dir.c_str(), &fs_info) == 0 &&
      (fs_info.f_type == PROC_SUPER_MAGIC || fs_info.f_type == SYSFS_MAGIC)) {
    return "is not writable";
  }
  return std::nullopt;
}

fs::path absolute_normal(const fs::path& path) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  return (ec ? path : absolute).lexically_normal();
}

}  // namespace

fs::path nearest_existing_ancestor(const fs::path& path) {
  fs::path candidate = absolute_normal(path);
  std::error_code ec;
  while (!fs::exists(fs::symlink_status(candidate, ec)) && candidate.has_relative_path()) {
    candidate =
        candidate.has_filename() ? candidate.parent_path() : candidate.parent_path().parent_path();
  }
  return candidate;
}

void check_directory_creatable(const fs::path& dir, const std::string& key_path) {
  if (dir.empty()) throw config_error(key_path, "", "is empty", accepted_directories);
  const fs::path ancestor = nearest_existing_ancestor(dir);
  const bool is_the_directory = ancestor == absolute_normal(dir);
  std::error_code ec;
  if (!fs::is_directory(fs::status(ancestor, ec))) {
    throw config_error(key_path, dir.string(),
                       is_the_directory
                           ? "is not a directory"
                           : "cannot be created: " + ancestor.string() + " is not a directory",
                       accepted_directories);
  }
  if (const std::optional<std::string> reason = why_not_writable(ancestor)) {
    throw config_error(
        key_path, dir.string(),
        is_the_directory ? *reason : "cannot be created: " + ancestor.string() + ' ' + *reason,
        accepted_directories);
  }
}

}  // namespace larder
