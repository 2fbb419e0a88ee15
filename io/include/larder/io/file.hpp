// file: an open file for the disk tier, opened with O_DIRECT where the filesystem allows it.
//
// O_DIRECT keeps the page cache from holding a second copy of cached bytes (DESIGN.md, "No
// double caching"). Where the filesystem refuses it (EINVAL), the file is reopened buffered and
// one warning per process says so. Data I/O does not go through this class: pass fd() to a ring
// or a file_io. Set-up calls (open, size, allocate) throw std::system_error whose message names
// the path; data I/O reports errors in io_result.
//
// Owns its descriptor and closes it on destruction; move-only. Thread safety: distinct objects are
// safe; const member functions of a shared object are safe, and fd() may carry concurrent I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <utility>

namespace larder::io {

struct file_mode {
  bool write = false;   // open read-write rather than read-only
  bool create = false;  // create the file (0644) if it does not exist
  bool direct = true;   // ask for O_DIRECT, falling back to buffered I/O where refused
};

class file {
 public:
  // A file that is not open: fd() is -1.
  file() noexcept = default;
  // Throws std::system_error naming the path when the file cannot be opened.
  static file open(const std::filesystem::path& path, file_mode mode = {});

  ~file();
  file(file&& other) noexcept;
  file& operator=(file&& other) noexcept;
  file(const file&) = delete;
  file& operator=(const file&) = delete;

  int fd() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  // True when the descriptor has O_DIRECT: buffers, lengths and offsets must then be multiples
  // of required_alignment().
  bool is_direct() const noexcept { return direct_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Alignment of buffer addresses, lengths and file offsets that O_DIRECT needs: the larger of the
  // memory and offset alignments the filesystem reports (statx STATX_DIOALIGN), else 4096, which
  // satisfies every common device. 1 for buffered I/O.
  std::size_t required_alignment() const noexcept { return alignment_; }

  // REQUIRES: is_open(). Current size in bytes. Throws std::system_error naming the path.
  std::uint64_t size() const;
  // REQUIRES: is_open(). Reserves disk blocks for [offset, offset + length), growing the file if
  // needed, so later writes there cannot fail with ENOSPC. Where the filesystem cannot reserve
  // (fallocate unsupported) it only grows the file (ftruncate), without the guarantee. Throws
  // std::system_error naming the path (ENOSPC among others).
  void allocate(std::uint64_t offset, std::uint64_t length);

 private:
  file(int fd, bool direct, std::size_t alignment, std::filesystem::path path) noexcept
      : fd_(fd), direct_(direct), alignment_(alignment), path_(std::move(path)) {}

  int fd_ = -1;
  bool direct_ = false;
  std::size_t alignment_ = 1;
  std::filesystem::path path_;
};

}  // namespace larder::io
