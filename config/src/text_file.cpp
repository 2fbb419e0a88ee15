#include "text_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace larder {
namespace {

[[noreturn]] void throw_file_error(int error, const std::filesystem::path& file) {
  throw std::system_error(error, std::generic_category(), file.string());
}

class file_descriptor {
 public:
  explicit file_descriptor(int fd) noexcept : fd_(fd) {}
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;
  ~file_descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// nullopt when the file does not exist.
std::optional<std::string> read_file(const std::filesystem::path& file, bool missing_is_error) {
  const file_descriptor fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.get() < 0) {
    if (errno == ENOENT && !missing_is_error) return std::nullopt;
    throw_file_error(errno, file);
  }
  // read() on a directory fails with EISDIR anyway; checking first gives the same message on
  // every filesystem.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_file_error(errno, file);
  if (S_ISDIR(st.st_mode)) throw_file_error(EISDIR, file);

  std::string text;
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_file_error(errno, file);
    }
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string read_text_file(const std::filesystem::path& file) {
  return *read_file(file, /*missing_is_error=*/true);
}

std::optional<std::string> read_text_file_if_present(const std::filesystem::path& file) {
  return read_file(file, /*missing_is_error=*/false);
}

}  // namespace larder
