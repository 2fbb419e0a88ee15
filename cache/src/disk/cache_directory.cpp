#include "disk/cache_directory.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/file.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace larder::disk {
namespace {

namespace fs = std::filesystem;

std::string quoted(const fs::path& p) {
  return "\"" + p.string() + "\"";
}

[[noreturn]] void fail(const fs::path& dir, const std::string& what) {
  throw directory_error("cache directory " + quoted(dir) + ": " + what);
}

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

// The pid the lock's holder wrote in it.
std::string read_owner(int lock_fd) {
  char pid[32] = {};
  const ssize_t n = ::pread(lock_fd, pid, sizeof pid - 1, 0);
  std::string owner = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "";
  while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' '))
    owner.pop_back();
  return owner.empty() ? "unknown" : owner;
}

int take_lock(const fs::path& dir) {
  const fs::path lock_path = dir / "lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(dir, "cannot open its lock file: " + errno_text(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const std::string owner = read_owner(fd);
    ::close(fd);
    if (error == EWOULDBLOCK) {
      fail(dir, "is in use by another cache (process " + owner +
                    "); a directory serves one cache at a time: stop that process or give "
                    "this cache another disk.path");
    }
    fail(dir, "cannot lock it: " + errno_text(error));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid only improves the message a second process sees; the lock itself holds.
  }
  return fd;
}

std::map<std::string, std::string> read_manifest_fields(const fs::path& dir, const fs::path& file) {
  std::ifstream in(file);
  if (!in) fail(dir, "cannot read its manifest " + quoted(file));
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) fail(dir, "manifest line \"" + line + "\" is not key=value");
    fields[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return fields;
}

std::uint64_t number_field(const fs::path& dir, const std::map<std::string, std::string>& fields,
                           const std::string& key) {
  auto it = fields.find(key);
  if (it == fields.end()) fail(dir, "manifest has no " + key + "; it is not a larder cache");
  std::uint64_t value = 0;
  const auto& text = it->second;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    fail(dir, "manifest " + key + " \"" + text + "\" is not a number");
  }
  return value;
}

void write_manifest(const fs::path& dir, const directory_settings& settings) {
  const fs::path tmp = dir / "manifest.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "# larder disk tier manifest: settings fixed for the life of this directory\n"
        << "format_version=" << directory_format_version << "\n"
        << "region_size=" << settings.region_size << "\n";
    out.flush();
    if (!out) fail(dir, "cannot write its manifest: " + errno_text(errno));
  }
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    fail(dir, "cannot sync its manifest: " + errno_text(error));
  }
  ::close(fd);
  std::error_code ec;
  fs::rename(tmp, dir / "manifest", ec);
  if (ec) fail(dir, "cannot install its manifest: " + ec.message());
  sync_directory(dir);
}

}  // namespace

manifest read_manifest(const fs::path& path) {
  if (!fs::is_directory(path)) fail(path, "is not a directory");
  const fs::path file = path / "manifest";
  if (!fs::exists(file)) fail(path, "has no manifest; it is not a larder cache directory");
  const auto fields = read_manifest_fields(path, file);
  return {number_field(path, fields, "format_version"), number_field(path, fields, "region_size")};
}

std::optional<std::string> lock_owner(const fs::path& path) {
  const int fd = ::open((path / "lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // never opened by a cache: nobody holds it
  std::optional<std::string> owner;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) owner = read_owner(fd);
  } else {
    ::flock(fd, LOCK_UN);
  }
  ::close(fd);
  return owner;
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + dir.string());
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) throw std::system_error(error, std::generic_category(), "fsync " + dir.string());
}

cache_directory cache_directory::open(const fs::path& path, const directory_settings& settings) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) fail(path, "cannot be created: " + ec.message());
  if (!fs::is_directory(path)) fail(path, "is not a directory");
  const int lock_fd = take_lock(path);
  try {
    const fs::path manifest = path / "manifest";
    bool created = false;
    if (fs::exists(manifest)) {
      const auto fields = read_manifest_fields(path, manifest);
      const auto version = number_field(path, fields, "format_version");
      if (version != directory_format_version) {
        fail(path, "has format version " + std::to_string(version) + "; this larder reads " +
                       std::to_string(directory_format_version) +
                       ". It is left untouched: use a larder that reads it, or another "
                       "disk.path");
      }
      const auto region_size = number_field(path, fields, "region_size");
      if (region_size != settings.region_size) {
        fail(path, "was created with region_size " + std::to_string(region_size) + " bytes, and " +
                       std::to_string(settings.region_size) +
                       " is configured; keep the setting or use another disk.path");
      }
    } else {
      write_manifest(path, settings);
      created = true;
    }
    fs::create_directories(path / "regions", ec);
    if (ec) fail(path, "cannot create its regions folder: " + ec.message());
    return cache_directory(path, settings, lock_fd, created);
  } catch (...) {
    ::close(lock_fd);
    throw;
  }
}

cache_directory::cache_directory(cache_directory&& other) noexcept
    : path_(std::move(other.path_)),
      settings_(other.settings_),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      created_(other.created_) {}

cache_directory& cache_directory::operator=(cache_directory&& other) noexcept {
  if (this != &other) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    path_ = std::move(other.path_);
    settings_ = other.settings_;
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    created_ = other.created_;
  }
  return *this;
}

cache_directory::~cache_directory() {
  // Closing the descriptor releases the flock.
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace larder::disk
