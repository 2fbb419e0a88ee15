#include "larder/cache/disk/directory_report.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <limits>
#include <span>
#include <system_error>
#include <unistd.h>
#include <unordered_set>

#include "disk/cache_directory.hpp"
#include "disk/disk_index.hpp"
#include "disk/eviction_log.hpp"
#include "disk/region_file.hpp"
#include "disk/region_replay.hpp"

namespace larder::disk {
namespace {

namespace fs = std::filesystem;

// The manifest, if this larder reads the directory's format.
manifest readable_manifest(const fs::path& path) {
  const manifest m = read_manifest(path);
  if (m.format_version != directory_format_version) {
    throw directory_error("cache directory \"" + path.string() + "\" has format version " +
                          std::to_string(m.format_version) + "; this larder reads " +
                          std::to_string(directory_format_version));
  }
  return m;
}

// Closes a descriptor on every path out.
struct file_descriptor {
  int fd;
  ~file_descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void fail(const std::string& what, const fs::path& file) {
  throw std::system_error(errno, std::generic_category(), what + " " + file.string());
}

// A region file's bytes, read in chunks of 4 MiB with on_chunk(bytes) after each; nullopt when
// the file is gone (a running cache reclaimed the region meanwhile).
std::optional<std::vector<std::byte>> read_region_file(
    const fs::path& file, const std::function<void(std::uint64_t)>& on_chunk) {
  constexpr std::size_t chunk = 4 << 20;
  const file_descriptor in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail("cannot open", file);
  }
  std::vector<std::byte> bytes;
  while (true) {
    const std::size_t done = bytes.size();
    bytes.resize(done + chunk);
    const ssize_t n = ::pread(in.fd, bytes.data() + done, chunk, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) {
        bytes.resize(done);
        continue;
      }
      fail("cannot read", file);
    }
    bytes.resize(done + static_cast<std::size_t>(n));
    if (n == 0) return bytes;
    if (on_chunk) on_chunk(static_cast<std::uint64_t>(n));
  }
}

void write_exactly(const file_descriptor& out, const std::byte* data, std::size_t size,
                   std::uint64_t offset, const fs::path& file) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(out.fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write", file);
    done += static_cast<std::size_t>(n);
  }
}

// Repair (directory_report.hpp, note 4): zeros over each damaged stretch, a fresh header if the
// header was damaged, then fdatasync.
void repair_region(const fs::path& file, std::uint64_t seq, bool header_damaged,
                   const std::vector<damaged_range>& damage) {
  const file_descriptor out{::open(file.c_str(), O_WRONLY | O_CLOEXEC)};
  if (out.fd < 0) fail("cannot open", file);
  if (header_damaged) {
    std::byte header[region_header_size];
    write_region_header(header, seq);
    write_exactly(out, header, sizeof header, 0, file);
  }
  for (const damaged_range& d : damage) {
    const std::vector<std::byte> zeros(d.length);
    write_exactly(out, zeros.data(), zeros.size(), d.offset, file);
  }
  if (::fdatasync(out.fd) != 0) fail("cannot sync", file);
}

std::vector<age_bucket> age_buckets() {
  using namespace std::chrono;
  return {{"< 1 hour", hours(1)},
          {"1 hour - 1 day", hours(24)},
          {"1 day - 1 week", hours(24 * 7)},
          {"1 week - 30 days", hours(24 * 30)},
          {">= 30 days", seconds::max()}};
}

}  // namespace

double directory_report::live_share() const noexcept {
  const std::uint64_t total = live_bytes + dead_bytes;
  return total == 0 ? 0.0 : static_cast<double>(live_bytes) / static_cast<double>(total);
}

directory_report inspect_cache_directory(const fs::path& path) {
  const manifest m = readable_manifest(path);
  directory_report report;
  report.path = path;
  report.format_version = m.format_version;
  report.region_size = m.region_size;
  report.lock_owner = lock_owner(path);
  report.index_snapshot = fs::exists(path / "index.snapshot");
  report.live_ages = age_buckets();

  const auto superseded = eviction_log(path / "evictions.log").load();
  const auto now = std::chrono::system_clock::now();
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  disk_index index;
  std::vector<std::chrono::system_clock::time_point> written_at;  // by slot
  std::unordered_set<std::uint64_t> expired;                      // packed locations
  std::uint64_t entries = 0;
  std::uint64_t entry_bytes = 0;
  for (const auto& [seq, file] : list_region_files(path / "regions")) {
    if (written_at.size() > std::numeric_limits<std::uint16_t>::max()) break;
    std::error_code ec;
    const auto mtime = fs::last_write_time(file, ec);
    auto bytes = read_region_file(file, {});
    if (!bytes || ec) continue;  // reclaimed meanwhile
    const auto slot = static_cast<std::uint16_t>(written_at.size());
    written_at.push_back(std::chrono::file_clock::to_sys(mtime));
    ++report.region_files;
    report.file_bytes += bytes->size();
    replay_region(index, slot, seq, *bytes, superseded,
                  [&](std::size_t pos, const entry_view& e, std::uint32_t, replay_outcome outcome) {
                    ++entries;
                    entry_bytes += e.encoded_size;
                    if (outcome == replay_outcome::tombstone) ++report.tombstones;
                    if (outcome == replay_outcome::indexed && e.expires_at_unix_ns != 0 &&
                        e.expires_at_unix_ns <= now_ns) {
                      const entry_location where{slot, static_cast<std::uint32_t>(pos),
                                                 static_cast<std::uint32_t>(e.encoded_size)};
                      expired.insert(where.pack());
                    }
                  });
  }
  index.for_each([&](std::uint32_t, entry_location where) {
    if (expired.contains(where.pack())) {
      ++report.expired_entries;
      return;
    }
    ++report.live_entries;
    report.live_bytes += where.size;
    const auto age = now - written_at[where.region_slot];
    for (age_bucket& bucket : report.live_ages) {
      // The last bucket takes any age (its bound, seconds::max(), overflows in nanoseconds).
      if (&bucket == &report.live_ages.back() || age < bucket.younger_than) {
        ++bucket.entries;
        bucket.bytes += where.size;
        break;
      }
    }
  });
  report.dead_entries = entries - report.live_entries;
  report.dead_bytes = entry_bytes - report.live_bytes;
  return report;
}

verify_report verify_cache_directory(const fs::path& path, const verify_options& options,
                                     const verify_progress& progress) {
  const manifest m = readable_manifest(path);
  verify_report report;
  std::optional<cache_directory> held;  // the lock, for as long as repair writes
  if (options.repair) {
    held.emplace(cache_directory::open(path, {.region_size = m.region_size}));
  } else {
    report.lock_owner = lock_owner(path);
  }
  const auto files = list_region_files(path / "regions");
  std::uint64_t total = 0;
  for (const auto& [seq, file] : files) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (!ec) total += size;
  }
  const auto list = [&](damage_kind kind, const fs::path& file, std::uint64_t offset,
                        std::uint64_t length) {
    if (report.damage.size() < options.max_listed) {
      report.damage.push_back({kind, file.filename().string(), offset, length});
    }
  };
  for (const auto& [seq, file] : files) {
    auto bytes = read_region_file(file, [&](std::uint64_t n) {
      report.bytes_read += n;
      if (progress) progress(report.bytes_read, std::max(total, report.bytes_read));
    });
    if (!bytes) continue;  // reclaimed meanwhile
    ++report.regions;
    std::vector<damaged_range> damage;
    std::uint64_t entries = 0;
    for_each_entry(
        *bytes,
        [&](std::size_t, const entry_view&) {
          ++entries;
          return true;
        },
        [&](const damaged_range& d) { damage.push_back(d); });
    const auto header =
        std::span<const std::byte>(*bytes).first(std::min(bytes->size(), region_header_size));
    // A header of zeros with nothing after it is a region created but never written.
    const bool never_written =
        std::all_of(header.begin(), header.end(), [](std::byte b) { return b == std::byte{0}; }) &&
        damage.empty() && entries == 0;
    report.entries_checked += entries;
    const bool header_damaged = !region_header_matches(*bytes, seq) && !never_written;
    if (header_damaged) {
      ++report.corrupt;
      list(damage_kind::region_header, file, 0, header.size());
    }
    for (const damaged_range& d : damage) {
      const auto kind = d.torn_tail ? damage_kind::torn_tail : damage_kind::corrupt_entry;
      ++(d.torn_tail ? report.torn_tails : report.corrupt);
      list(kind, file, d.offset, d.length);
    }
    if (options.repair && (header_damaged || !damage.empty())) {
      repair_region(file, seq, header_damaged, damage);
    }
  }
  report.repaired = options.repair;
  return report;
}

}  // namespace larder::disk
