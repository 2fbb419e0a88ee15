#include <cassert>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <limits>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include <larder/cache/temp_directory_cleaner.hpp>

namespace larder {
namespace {

namespace fs = std::filesystem;

// A moment as struct stat writes one, so that a file's mtime is compared without converting it:
// stat times span far more than a std::chrono nanosecond clock can hold.
struct moment {
  std::int64_t seconds;
  std::int64_t nanoseconds;

  auto operator<=>(const moment&) const = default;
};

moment modification_time(const struct stat& st) {
  return {st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

// now - max_age, saturating at the earliest moment: a huge max_age means nothing is old enough.
moment cutoff_before(fs::file_time_type now, std::chrono::seconds max_age) {
  const auto since_epoch = std::chrono::file_clock::to_sys(now).time_since_epoch();
  const auto whole_seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const std::int64_t nanoseconds =
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - whole_seconds).count();
  std::int64_t seconds = 0;
  if (__builtin_sub_overflow(whole_seconds.count(), max_age.count(), &seconds)) {
    return {std::numeric_limits<std::int64_t>::min(), 0};
  }
  return {seconds, nanoseconds};
}

// Owns one open directory stream and the descriptor under it.
class directory_stream {
 public:
  // Takes ownership of fd, which must be an open directory.
  explicit directory_stream(int fd) noexcept : dir_(::fdopendir(fd)) {
    if (dir_ == nullptr) {
      const int error = errno;
      ::close(fd);
      errno = error;
    }
  }
  directory_stream(const directory_stream&) = delete;
  directory_stream& operator=(const directory_stream&) = delete;
  ~directory_stream() {
    if (dir_ != nullptr) ::closedir(dir_);
  }

  bool is_open() const noexcept { return dir_ != nullptr; }
  int fd() const noexcept { return ::dirfd(dir_); }
  // The next entry's name other than . and ..; nullptr at the end or on a read error (errno set).
  const char* next_name() noexcept {
    for (;;) {
      errno = 0;
      const dirent* entry = ::readdir(dir_);
      if (entry == nullptr) return nullptr;
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") return entry->d_name;
    }
  }

 private:
  DIR* dir_;
};

// What the walk left of one directory.
struct directory_outcome {
  // Read to the end and nothing kept in it (it may still have been empty to begin with).
  bool empty = false;
  // This pass removed at least one of its entries.
  bool removed_any = false;
};

class temp_directory_walk {
 public:
  temp_directory_walk(moment cutoff, dev_t device, temp_cleanup_report& report)
      : cutoff_(cutoff), device_(device), report_(report) {}

  // Cleans the directory open at fd (owned from here on), found at `path`, `depth` levels below
  // temp_dir.
  directory_outcome clean(int fd, const fs::path& path, int depth) {
    directory_stream dir{fd};
    if (!dir.is_open()) {
      record(path, "cannot read directory", errno);
      return {};
    }
    bool kept_any = false;
    bool removed_any = false;
    while (const char* name = dir.next_name()) {
      switch (clean_entry(dir.fd(), name, path / name, depth)) {
        case outcome::removed:
          removed_any = true;
          break;
        case outcome::kept:
          kept_any = true;
          break;
        case outcome::gone:
          break;
      }
    }
    if (errno != 0) {
      record(path, "cannot read directory", errno);
      return {.empty = false, .removed_any = removed_any};
    }
    return {.empty = !kept_any, .removed_any = removed_any};
  }

 private:
  enum class outcome { removed, kept, gone };

  outcome clean_entry(int dir_fd, const char* name, const fs::path& path, int depth) {
    struct stat st {};
    if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return outcome::gone;
      record(path, "cannot examine", errno);
      return outcome::kept;
    }
    if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
      if (modification_time(st) >= cutoff_) return outcome::kept;
      return remove_file(dir_fd, name, path, st);
    }
    if (S_ISDIR(st.st_mode)) return clean_subdirectory(dir_fd, name, path, depth + 1, st);
    return outcome::kept;
  }

  // `st` is what fstatat saw of the directory before the walk entered it.
  outcome clean_subdirectory(int parent_fd, const char* name, const fs::path& path, int depth,
                             const struct stat& st) {
    if (depth > max_walk_depth) {
      record(path, "not cleaned",
             "more than " + std::to_string(max_walk_depth) + " levels below the temp directory");
      return outcome::kept;
    }
    const int fd =
        ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      // Replaced by a symbolic link or a file since fstatat: never followed; the next pass judges
      // whatever is there then.
      if (errno == ELOOP || errno == ENOTDIR) return outcome::kept;
      if (errno == ENOENT) return outcome::gone;
      record(path, "cannot open directory", errno);
      return outcome::kept;
    }
    struct stat opened {};
    if (::fstat(fd, &opened) != 0 || opened.st_dev != device_) {
      // Another filesystem mounted here: not ours to clean.
      ::close(fd);
      return outcome::kept;
    }
    const directory_outcome result = clean(fd, path, depth);
    // Emptied by this pass, or empty and unchanged for max_age (abandoned). A directory that was
    // empty but is new may be about to receive its first file, so it stays.
    if (!result.empty || !(result.removed_any || modification_time(st) < cutoff_)) {
      return outcome::kept;
    }
    if (::unlinkat(parent_fd, name, AT_REMOVEDIR) != 0) {
      if (errno == ENOENT) return outcome::gone;
      // Something was created in it meanwhile: it is in use again.
      if (errno == ENOTEMPTY || errno == EEXIST) return outcome::kept;
      record(path, "cannot remove directory", errno);
      return outcome::kept;
    }
    ++report_.directories_removed;
    return outcome::removed;
  }

  outcome remove_file(int dir_fd, const char* name, const fs::path& path, const struct stat& st) {
    if (::unlinkat(dir_fd, name, 0) != 0) {
      if (errno == ENOENT) return outcome::gone;
      record(path, "cannot remove", errno);
      return outcome::kept;
    }
    ++report_.files_removed;
    if (S_ISREG(st.st_mode)) report_.bytes_removed += static_cast<std::uint64_t>(st.st_size);
    return outcome::removed;
  }

  void record(const fs::path& path, std::string_view what, int error) {
    record(path, what, std::system_category().message(error));
  }

  void record(const fs::path& path, std::string_view what, const std::string& reason) {
    if (report_.errors++ == 0) {
      report_.first_error = path.string() + ": " + std::string{what} + ": " + reason;
    }
  }

  moment cutoff_;
  dev_t device_;
  temp_cleanup_report& report_;
};

// temp_dir without trailing slashes: "dir/" would make open() follow a symbolic link at dir
// despite O_NOFOLLOW.
std::string without_trailing_slashes(const fs::path& dir) {
  std::string text = dir.string();
  while (text.size() > 1 && text.back() == '/')
    text.pop_back();
  return text;
}

}  // namespace

temp_cleanup_report clean_temp_directory(const fs::path& temp_dir, std::chrono::seconds max_age,
                                         fs::file_time_type now) {
  assert(max_age.count() >= 0);
  temp_cleanup_report report;
  const auto refuse = [&](std::string_view reason) {
    report.errors = 1;
    report.first_error = temp_dir.string() + ": not cleaned: " + std::string{reason};
    return report;
  };
  const std::string dir = without_trailing_slashes(temp_dir);
  if (dir.empty()) return refuse("the path is empty");
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return report;
    // O_NOFOLLOW with O_DIRECTORY fails on a link with ENOTDIR or ELOOP, as for a plain file.
    struct stat link {};
    if (::lstat(dir.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
      return refuse("it is a symbolic link");
    }
    return refuse(std::system_category().message(error));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return refuse(std::system_category().message(error));
  }
  temp_directory_walk{cutoff_before(now, max_age), st.st_dev, report}.clean(fd, temp_dir, 0);
  return report;
}

temp_cleanup_report clean_temp_directory(const fs::path& temp_dir, std::chrono::seconds max_age) {
  return clean_temp_directory(temp_dir, max_age, fs::file_time_type::clock::now());
}

}  // namespace larder
