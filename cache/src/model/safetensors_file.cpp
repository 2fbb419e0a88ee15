#include "larder/cache/model/safetensors_file.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace larder::model {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void throw_errno(int error, const fs::path& path, std::string_view operation) {
  throw std::system_error(error, std::generic_category(),
                          std::string(operation) + " " + path.string());
}

class unique_fd {
 public:
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error that a deferred close would swallow (NFS reports late
  // write failures here).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

// Reads exactly buffer.size() bytes at `offset`; returns how many it got before the end of file.
std::size_t read_at(int fd, std::span<std::byte> buffer, std::uint64_t offset,
                    const fs::path& path) {
  std::size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t got =
        ::pread(fd, buffer.data() + done, buffer.size() - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path, "pread");
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

void write_all(int fd, std::span<const std::byte> bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const ssize_t put = ::write(fd, bytes.data(), bytes.size());
    if (put < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path, "write");
    }
    bytes = bytes.subspan(static_cast<std::size_t>(put));
  }
}

void sync_directory(const fs::path& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno(errno, dir, "open");
  if (::fsync(fd.get()) != 0) throw_errno(errno, dir, "fsync");
}

// A temporary name next to `path` that no other writer (thread or process) picks: O_EXCL settles
// the rare collision. Created with mode 0666 so the umask applies as for any new file.
std::pair<unique_fd, fs::path> create_temporary(const fs::path& path) {
  static std::atomic<std::uint64_t> counter{0};
  for (int attempt = 0;; ++attempt) {
    fs::path candidate = path;
    candidate.replace_filename("." + path.filename().string() + ".tmp." +
                               std::to_string(::getpid()) + "." + std::to_string(counter++));
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return {unique_fd(fd), std::move(candidate)};
    if (errno != EEXIST || attempt == 100) throw_errno(errno, candidate, "create");
  }
}

// The reference writer's layout: decreasing dtype alignment (the enum is in increasing order),
// then name.
std::vector<tensor_info> lay_out(std::span<const tensor_to_write> tensors,
                                 std::vector<std::size_t>& order) {
  order.resize(tensors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (tensors[a].dtype != tensors[b].dtype) return tensors[a].dtype > tensors[b].dtype;
    return tensors[a].name < tensors[b].name;
  });
  std::vector<tensor_info> layout;
  layout.reserve(tensors.size());
  std::uint64_t offset = 0;
  for (const std::size_t index : order) {
    const tensor_to_write& t = tensors[index];
    layout.push_back({t.name, t.dtype, t.shape, offset, offset + t.bytes.size()});
    offset += t.bytes.size();
  }
  return layout;
}

void check_writable(std::span<const tensor_to_write> tensors, const fs::path& path) {
  std::set<std::string_view> names;
  for (const tensor_to_write& t : tensors) {
    const std::string where = "write_safetensors " + path.string() + ": tensor \"" + t.name + "\"";
    if (t.name == "__metadata__") throw std::invalid_argument(where + ": the name is reserved");
    if (!names.insert(t.name).second) throw std::invalid_argument(where + ": name given twice");
    const auto expected = tensor_byte_size(t.dtype, t.shape);
    if (!expected || *expected != t.bytes.size()) {
      throw std::invalid_argument(where + ": " + std::to_string(t.bytes.size()) +
                                  " bytes given, but its shape and dtype " +
                                  std::string(to_string(t.dtype)) +
                                  (expected ? " need " + std::to_string(*expected)
                                            : " do not describe a whole number of bytes"));
    }
  }
}

}  // namespace

safetensors_header read_safetensors_header(const fs::path& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno(errno, path, "open");
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw_errno(errno, path, "fstat");
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  const std::string name = path.string();

  std::vector<std::byte> bytes(8);
  bytes.resize(read_at(fd.get(), bytes, 0, path));
  if (bytes.size() < 8) return parse_safetensors_header(bytes, bytes.size(), name);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | std::to_integer<std::uint64_t>(bytes[i]);
  if (n > safetensors_max_header_bytes || 8 + n > file_size) {
    // The parser reports the bad length from these 8 bytes alone.
    return parse_safetensors_header(bytes, file_size, name);
  }
  bytes.resize(8 + n);
  const std::size_t got = read_at(fd.get(), std::span(bytes).subspan(8), 8, path);
  if (got < n) {
    throw safetensors_error(name + ": file ended after " + std::to_string(8 + got) +
                            " bytes while its header was being read (it shrank while open)");
  }
  return parse_safetensors_header(bytes, file_size, name);
}

void write_safetensors(const fs::path& path, std::span<const tensor_to_write> tensors,
                       const std::map<std::string, std::string>& metadata) {
  check_writable(tensors, path);
  std::vector<std::size_t> order;
  const std::vector<tensor_info> layout = lay_out(tensors, order);
  const std::string header = serialize_safetensors_header(layout, metadata);

  auto [fd, temporary] = create_temporary(path);
  try {
    write_all(fd.get(), std::as_bytes(std::span(header)), temporary);
    for (const std::size_t index : order)
      write_all(fd.get(), tensors[index].bytes, temporary);
    if (::fsync(fd.get()) != 0) throw_errno(errno, temporary, "fsync");
    if (fd.close() != 0) throw_errno(errno, temporary, "close");
    if (::rename(temporary.c_str(), path.c_str()) != 0) throw_errno(errno, path, "rename to");
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
  sync_directory(path.has_parent_path() ? path.parent_path() : fs::path("."));
}

}  // namespace larder::model
