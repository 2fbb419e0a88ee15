#include "larder/io/file.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

#include <larder/runtime/log.hpp>

namespace larder::io {
namespace {

// Used when the filesystem does not report its O_DIRECT alignment: the page size, a multiple of
// every logical block size in common use (512, 4096).
constexpr std::size_t fallback_direct_alignment = 4096;

[[noreturn]] void throw_for(int error, const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(error, std::system_category(),
                          "larder::io::file: " + what + " \"" + path.string() + "\"");
}

std::size_t direct_alignment(int fd) {
#ifdef STATX_DIOALIGN
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
      (stx.stx_mask & STATX_DIOALIGN) != 0 && stx.stx_dio_offset_align != 0) {
    return std::max<std::size_t>(stx.stx_dio_offset_align, stx.stx_dio_mem_align);
  }
#else
  (void)fd;
#endif
  return fallback_direct_alignment;
}

void warn_buffered_fallback(const std::filesystem::path& path) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  log().warn(
      "{}: the filesystem does not support O_DIRECT; using buffered I/O, the page cache "
      "may hold a second copy of cached data (further files are not reported)",
      path.string());
}

}  // namespace

file file::open(const std::filesystem::path& path, file_mode mode) {
  int flags = (mode.write ? O_RDWR : O_RDONLY) | O_CLOEXEC;
  if (mode.create) flags |= O_CREAT;
  bool direct = mode.direct;
  int fd = ::open(path.c_str(), flags | (direct ? O_DIRECT : 0), 0644);
  if (fd < 0 && direct && errno == EINVAL) {
    // EINVAL with O_DIRECT is the filesystem refusing it (tmpfs before Linux 6.6, procfs, some
    // FUSE mounts); any other cause fails again below and is reported.
    direct = false;
    fd = ::open(path.c_str(), flags, 0644);
    if (fd >= 0) warn_buffered_fallback(path);
  }
  if (fd < 0) {
    throw_for(errno, std::string("cannot open") + (mode.write ? " for writing" : " for reading"),
              path);
  }
  return file(fd, direct, direct ? direct_alignment(fd) : 1, path);
}

file::~file() {
  if (fd_ >= 0) ::close(fd_);
}

file::file(file&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      direct_(other.direct_),
      alignment_(other.alignment_),
      path_(std::move(other.path_)) {}

file& file::operator=(file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    direct_ = other.direct_;
    alignment_ = other.alignment_;
    path_ = std::move(other.path_);
  }
  return *this;
}

std::uint64_t file::size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_for(errno, "cannot stat", path_);
  return static_cast<std::uint64_t>(st.st_size);
}

void file::allocate(std::uint64_t offset, std::uint64_t length) {
  const auto off = static_cast<off_t>(offset);
  const auto len = static_cast<off_t>(length);
  int r = 0;
  do {
    r = ::fallocate(fd_, 0, off, len);
  } while (r != 0 && errno == EINTR);
  if (r == 0) return;
  if (errno != EOPNOTSUPP) throw_for(errno, "cannot allocate space in", path_);
  if (size() >= offset + length) return;
  if (::ftruncate(fd_, off + len) != 0) throw_for(errno, "cannot extend", path_);
}

}  // namespace larder::io
