// clean_temp_directory: the system cache's time-based cleanup of its temp_dir (issue 4).
//
// One synchronous pass over temp_dir removes what has not been modified for longer than max_age:
// regular files, judged by their mtime, and symbolic links, judged by their own (lstat) mtime and
// removed as links, never through them. A subdirectory goes once the pass has left it empty, or if
// it was empty already and has not changed for max_age (a new empty one may be about to receive
// its first file); temp_dir itself stays. Other entries (sockets, FIFOs, devices) are left alone:
// a live process may be using one whatever its mtime says. An mtime equal to the cutoff is not
// yet older.
//
// Nothing outside temp_dir is ever touched. The walk holds a descriptor for each directory it is
// in and reaches every entry relative to it (openat, fstatat, unlinkat), opening directories with
// O_NOFOLLOW, so a directory swapped for a symbolic link during the pass leads nowhere. A temp_dir
// that is itself a symbolic link (or not a directory, or an empty path) is refused with one error,
// touching nothing. As tmpwatch does, the walk does not cross into
// another filesystem mounted inside temp_dir, and it stops descending max_walk_depth levels down
// (each level holds a descriptor and a stack frame, and temp_dir may be writable by others).
//
// A missing temp_dir is nothing to do. Errors do not stop the pass: each entry that cannot be
// examined or removed is counted and the pass goes on; the report keeps the first message. An
// entry that disappears during the pass (another cleaner, its owner) is not an error.
//
// The functions do not log and throw only std::bad_alloc; the caller decides what a report is
// worth. Stateless: safe to call from any thread, also on the same directory at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace larder {

struct temp_cleanup_report {
  // Regular files and symbolic links removed.
  std::uint64_t files_removed = 0;
  // The sizes of the regular files removed. The space comes back once no other hard link or open
  // descriptor holds a file.
  std::uint64_t bytes_removed = 0;
  std::uint64_t directories_removed = 0;
  // Entries that could not be examined or removed, and a refused temp_dir.
  std::uint64_t errors = 0;
  // The first error as `<path>: <what failed>: <reason>`; empty when errors == 0.
  std::string first_error;

  bool operator==(const temp_cleanup_report&) const = default;
};

// Directories more than this many levels below temp_dir are left as they are, each counted as an
// error. 64 is far deeper than any tool nests its scratch files, and bounds the descriptors one
// pass holds open.
inline constexpr int max_walk_depth = 64;

// Removes what under temp_dir was last modified before now - max_age.
// REQUIRES: max_age >= 0
temp_cleanup_report clean_temp_directory(const std::filesystem::path& temp_dir,
                                         std::chrono::seconds max_age,
                                         std::filesystem::file_time_type now);

// The same with now = the current time.
temp_cleanup_report clean_temp_directory(const std::filesystem::path& temp_dir,
                                         std::chrono::seconds max_age);

}  // namespace larder
