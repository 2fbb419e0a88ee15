#include "disk/eviction_log.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "disk/cache_directory.hpp"
#include "key_hash.hpp"

namespace larder::disk {
namespace {

constexpr std::uint32_t record_magic = 0x5645524c;  // "LREV"

std::vector<std::byte> encode(std::uint64_t seq, std::span<const std::uint32_t> tags) {
  std::vector<std::byte> out(16 + tags.size() * 4 + 8);
  const auto count = static_cast<std::uint32_t>(tags.size());
  std::memcpy(out.data(), &record_magic, 4);
  std::memcpy(out.data() + 4, &count, 4);
  std::memcpy(out.data() + 8, &seq, 8);
  if (!tags.empty()) std::memcpy(out.data() + 16, tags.data(), tags.size() * 4);
  const std::uint64_t sum = XXH3_64bits(out.data(), out.size() - 8);
  std::memcpy(out.data() + out.size() - 8, &sum, 8);
  return out;
}

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& file) {
  throw std::system_error(errno, std::generic_category(), what + " " + file.string());
}

void write_all(const std::filesystem::path& file, const std::vector<std::byte>& bytes, int flags) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
  if (fd < 0) fail("cannot open", file);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      errno = error;
      fail("cannot write", file);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    fail("cannot sync", file);
  }
  ::close(fd);
}

}  // namespace

void eviction_log::append(std::uint64_t region_seq, std::span<const std::uint32_t> tags) {
  const bool existed = std::filesystem::exists(file_);
  write_all(file_, encode(region_seq, tags), O_APPEND);
  if (!existed) sync_directory(file_.parent_path());
}

std::vector<eviction_log::record> eviction_log::records(bool* damaged_tail) const {
  std::vector<record> out;
  if (damaged_tail != nullptr) *damaged_tail = false;
  std::ifstream in(file_, std::ios::binary);
  if (!in) return out;
  const std::vector<char> raw((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
  std::size_t pos = 0;
  while (pos + 24 <= raw.size()) {
    std::uint32_t magic = 0;
    std::uint32_t count = 0;
    std::uint64_t seq = 0;
    std::memcpy(&magic, raw.data() + pos, 4);
    std::memcpy(&count, raw.data() + pos + 4, 4);
    std::memcpy(&seq, raw.data() + pos + 8, 8);
    const std::size_t size = 16 + std::size_t{count} * 4 + 8;
    if (magic != record_magic || pos + size > raw.size()) break;
    std::uint64_t sum = 0;
    std::memcpy(&sum, raw.data() + pos + size - 8, 8);
    if (sum != XXH3_64bits(raw.data() + pos, size - 8)) break;
    record r{seq, std::vector<std::uint32_t>(count)};
    if (count != 0) std::memcpy(r.tags.data(), raw.data() + pos + 16, std::size_t{count} * 4);
    out.push_back(std::move(r));
    pos += size;
  }
  if (damaged_tail != nullptr) *damaged_tail = pos != raw.size();
  return out;
}

std::unordered_map<std::uint32_t, std::uint64_t> eviction_log::load() const {
  std::unordered_map<std::uint32_t, std::uint64_t> newest;
  for (const record& r : records()) {
    for (std::uint32_t tag : r.tags) {
      auto [it, inserted] = newest.emplace(tag, r.seq);
      if (!inserted && it->second < r.seq) it->second = r.seq;
    }
  }
  return newest;
}

void eviction_log::prune(std::uint64_t oldest_region_seq) {
  if (!std::filesystem::exists(file_)) return;
  std::vector<std::byte> kept;
  // A torn last record (a crash during append) is dropped too, so later appends stay readable.
  bool dropped = false;
  for (const record& r : records(&dropped)) {
    if (r.seq < oldest_region_seq) {
      dropped = true;
      continue;
    }
    const auto bytes = encode(r.seq, r.tags);
    kept.insert(kept.end(), bytes.begin(), bytes.end());
  }
  if (!dropped) return;
  if (kept.empty()) {
    std::filesystem::remove(file_);
  } else {
    const auto tmp = std::filesystem::path(file_.string() + ".tmp");
    write_all(tmp, kept, O_TRUNC);
    std::filesystem::rename(tmp, file_);
  }
  sync_directory(file_.parent_path());
}

}  // namespace larder::disk
