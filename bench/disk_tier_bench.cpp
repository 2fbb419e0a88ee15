// disk_tier_bench: the disk tier against the baselines DESIGN.md names, in one run.
//
//  1. Sequential puts (fill): MB/s through disk_tier::put + flush, beside fio's sequential
//     O_DIRECT write of the same volume (bs 1 MiB, io_uring).
//  2. Random gets at queue depth 1 and 32 of values that are only on disk (the tier is used
//     without a memory tier), beside fio randread (io_uring, direct) with the same block size
//     and depth on a file of the same size, and a synchronous pread loop (depth 1). Beside
//     them, where a get's time goes: CPU per get against fio's per read, and the mean read
//     latency (the tier's read_latency, submission included) against fio's lat_ns.
//  3. Reopen: the time to open a directory of many small entries after a clean close (index
//     snapshot) and after a crash (scan), and the index's bytes per entry.
//
//   build/release/bench/disk_tier_bench [--dir DIR] [--mib N] [--seconds S] [--rounds R]
//                                       [--reopen-entries N] [--values 4096,65536]
//                                       [--depths 1,32] [--no-registered]
// --reopen-entries 0 skips the reopen measurement. --no-registered runs the ring without its
// registered read buffers (ring.hpp, design note 8), for comparison.
//
// Fills and random gets run R times each (default 3), each run followed by fio's; the medians
// are printed, and the ratio is the median of the rounds' ratios: this machine's neighbours make
// single runs swing by a fifth.
//
// fio must be on PATH (Debian package fio) for the fio columns; they read "-" without it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "fio_job.hpp"
#include "larder/cache/disk_tier.hpp"
#include "larder/io/aligned_buffer.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "larder/runtime/when_all.hpp"

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

struct settings {
  fs::path dir = "/tmp/larder-disk-bench";
  std::uint64_t mib = 1024;
  double seconds = 3;
  int rounds = 3;  // random-get runs per depth, alternating with fio; medians are printed
  std::uint64_t reopen_entries = 1000000;
  std::vector<std::size_t> value_sizes{4096, 65536};
  std::vector<unsigned> depths{1, 32};
  bool registered = true;  // the ring's registered read buffers (ring.hpp, design note 8)
};

// "4096,65536" -> {4096, 65536}.
template <typename T>
std::vector<T> parse_list(const std::string& text) {
  std::vector<T> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    out.push_back(static_cast<T>(std::stoull(text.substr(pos, comma - pos))));
    pos = comma + 1;
  }
  return out;
}

// CPU seconds (user + system) this process has used so far.
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto seconds = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// fio's figures for its read or write job, or zeros when it fails.
larder::bench::fio_figures fio(const std::string& args, const char* direction) {
  return larder::bench::run_fio("--name=larder " + args, direction)
      .value_or(larder::bench::fio_figures{});
}

std::string key_for(std::uint64_t i) {
  return "bench/" + std::to_string(i);
}

struct random_get_result {
  double iops = 0;
  double bytes_per_second = 0;
  std::uint64_t misses = 0;
  double cpu_seconds_per_get = 0;  // the process's user + system CPU
};

random_get_result random_gets(larder::runtime& rt, larder::disk_tier& tier, std::uint64_t count,
                              std::size_t value_bytes, unsigned depth, double seconds) {
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> misses{0};
  const auto start = clock_type::now();
  const double cpu_start = cpu_seconds();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  auto reader = [&](unsigned seed) -> larder::asio::awaitable<void> {
    std::mt19937_64 rng(seed);
    while (clock_type::now() < deadline) {
      auto v = co_await tier.get(key_for(rng() % count));
      if (v && v->size() != value_bytes) throw std::runtime_error("disk tier returned wrong bytes");
      // A miss: one of the few keys whose 32-bit index tag another key took (disk_index.hpp).
      if (!v) misses.fetch_add(1, std::memory_order_relaxed);
      done.fetch_add(1, std::memory_order_relaxed);
    }
  };
  rt.run([&]() -> larder::asio::awaitable<void> {
    std::vector<larder::asio::awaitable<void>> readers;
    for (unsigned i = 0; i < depth; ++i)
      readers.push_back(reader(i + 1));
    co_await larder::when_all(std::move(readers));
  }());
  const double elapsed = since(start);
  const double cpu = cpu_seconds() - cpu_start;
  return {done / elapsed, done * static_cast<double>(value_bytes) / elapsed, misses.load(),
          cpu / static_cast<double>(std::max<std::uint64_t>(1, done))};
}

// KiB of the mapping holding `address` that are transparent huge pages (/proc/self/smaps), or
// -1 if the mapping is not found. The registered read buffers gain from huge pages (ring.hpp,
// design note 8), so the figures depend on whether this machine gave them.
long anon_huge_kib_at(const void* address) {
  std::FILE* smaps = std::fopen("/proc/self/smaps", "r");
  if (smaps == nullptr) return -1;
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  bool inside = false;
  long kib = -1;
  char line[512];
  while (std::fgets(line, sizeof line, smaps) != nullptr) {
    unsigned long long first = 0;
    unsigned long long end = 0;
    char perms[8] = {};
    // A mapping's first line is "first-end perms offset dev inode path"; its fields follow.
    if (std::sscanf(line, "%llx-%llx %7s", &first, &end, perms) == 3) {
      inside = at >= first && at < end;
    } else if (inside && std::sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) {
      break;
    }
  }
  std::fclose(smaps);
  return kib;
}

// A synchronous O_DIRECT pread loop over the region files, queue depth 1.
random_get_result pread_loop(const fs::path& regions, std::size_t block, double seconds) {
  std::vector<int> fds;
  std::vector<std::uint64_t> sizes;
  for (const auto& f : fs::directory_iterator(regions)) {
    const int fd = ::open(f.path().c_str(), O_RDONLY | O_DIRECT);
    if (fd < 0) continue;
    fds.push_back(fd);
    sizes.push_back(fs::file_size(f.path()));
  }
  larder::io::aligned_buffer buffer(block, 4096);
  std::mt19937_64 rng(9);
  std::uint64_t done = 0;
  const auto start = clock_type::now();
  while (since(start) < seconds && !fds.empty()) {
    const std::size_t f = rng() % fds.size();
    const std::uint64_t offset = rng() % (sizes[f] / block) * block;
    if (::pread(fds[f], buffer.data(), block, static_cast<off_t>(offset)) > 0) ++done;
  }
  for (int fd : fds)
    ::close(fd);
  const double elapsed = since(start);
  return {done / elapsed, done * static_cast<double>(block) / elapsed, 0};
}

// The ratio printed is the median of the rounds' own ratios: each larder run is compared with
// the fio run right after it, so a slow minute of the shared disk counts against both sides.
void print_row(const char* what, const std::vector<double>& larder,
               const std::vector<double>& baseline, const char* baseline_name) {
  std::vector<double> ratios;
  for (std::size_t i = 0; i < std::min(larder.size(), baseline.size()); ++i) {
    if (baseline[i] > 0) ratios.push_back(larder[i] / baseline[i]);
  }
  if (!ratios.empty()) {
    std::printf("  %-34s %12.0f   %-14s %12.0f   ratio %.2f (rounds %.2f-%.2f)\n", what,
                median(larder), baseline_name, median(baseline), median(ratios),
                *std::min_element(ratios.begin(), ratios.end()),
                *std::max_element(ratios.begin(), ratios.end()));
  } else {
    std::printf("  %-34s %12.0f   %-14s %12s\n", what, median(larder), baseline_name, "-");
  }
}

void run_size(const settings& s, std::size_t value_bytes, bool fio_available) {
  const fs::path dir = s.dir / ("values-" + std::to_string(value_bytes));
  const std::uint64_t count = (s.mib << 20) / value_bytes;
  larder::runtime rt({.threads = 1});
  larder::io::ring_options ring_options;
  if (!s.registered) ring_options.registered_buffers = 0;
  larder::io::ring ring(rt.executor(), ring_options);
  larder::io::ring_file_io file_io(ring);
  larder::disk_tier_options o;
  o.path = dir;
  o.capacity_bytes = (s.mib << 20) * 2;

  std::vector<std::byte> value(value_bytes);
  std::mt19937_64 rng(1);
  for (auto& b : value)
    b = static_cast<std::byte>(rng());
  const fs::path fio_file = s.dir / "fio.dat";
  const std::string fio_common = "--filename=" + fio_file.string() +
                                 " --size=" + std::to_string(s.mib) +
                                 "M --ioengine=io_uring --direct=1";

  // Fill rounds, each into a fresh directory and each followed by fio's sequential write; the
  // last round's tier serves the random gets.
  std::unique_ptr<larder::disk_tier> tier;
  std::vector<double> fill_rates;
  std::vector<double> fio_writes;
  std::vector<double> fill_cpu;
  std::vector<double> flush_times;
  for (int round = 0; round < s.rounds; ++round) {
    if (tier) rt.run(tier->close());
    tier.reset();
    fs::remove_all(dir);
    tier = rt.run(larder::disk_tier::open(rt.executor(), file_io, o));
    const auto fill_start = clock_type::now();
    const double fill_cpu_start = cpu_seconds();
    double flush_seconds = 0;
    rt.run([&]() -> larder::asio::awaitable<void> {
      for (std::uint64_t i = 0; i < count; ++i)
        co_await tier->put(key_for(i), value);
      const auto flush_start = clock_type::now();
      if (co_await tier->flush()) throw std::runtime_error("flush failed");
      flush_seconds = since(flush_start);
    }());
    fill_rates.push_back(static_cast<double>(s.mib << 20) / since(fill_start) / 1e6);
    flush_times.push_back(flush_seconds);
    fill_cpu.push_back(cpu_seconds() - fill_cpu_start);
    if (fio_available) {
      // A new file each round, as the fill writes new region files: overwriting blocks that are
      // already allocated and written is cheaper for the filesystem than writing fresh ones.
      fs::remove(fio_file);
      fio_writes.push_back(
          fio(fio_common + " --rw=write --bs=1M --iodepth=4", "write").bytes_per_second / 1e6);
    }
  }
  std::printf("\nvalues of %zu bytes, %llu entries (%llu MiB) in %s, %d rounds\n", value_bytes,
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(s.mib),
              dir.c_str(), s.rounds);
  if (auto pool_buffer = ring.acquire_registered_buffer(1)) {
    std::printf(
        "  (registered read buffers: %llu of %zu KiB; %ld KiB of their block in huge pages)\n",
        static_cast<unsigned long long>(ring.stats().registered_buffers), pool_buffer->size() >> 10,
        anon_huge_kib_at(pool_buffer->data()));
  }
  std::printf("  %-34s %12s   %-14s %12s\n", "", "larder", "baseline", "");
  print_row("sequential put, MB/s", fill_rates, fio_writes, "fio write");
  const auto filled = tier->stats();
  std::printf(
      "  (a fill used %.2f s of CPU; the flush at its end took %.3f s; medians; the last "
      "fill's %llu regions used %llu buffers)\n",
      median(fill_cpu), median(flush_times), static_cast<unsigned long long>(filled.regions),
      static_cast<unsigned long long>(filled.region_buffers_allocated));

  // The device cost of a get is not quite fio's: an entry carries a header and its key, so a
  // 4 KiB value is a read of about 4.5 KiB at the device's 512-byte alignment, which crosses a
  // 4 KiB physical block. fio with larder's own read size and alignment shows that limit.
  const auto before = tier->stats();
  for (unsigned depth : s.depths) {
    std::vector<double> ours;
    std::vector<double> theirs;
    std::vector<double> same_shape;
    // CPU microseconds per get or per read: at queue depth 1 the device waits while they run.
    std::vector<double> our_cpu;
    std::vector<double> their_cpu;
    std::vector<double> same_shape_cpu;
    // Mean microseconds from the start of a read (its submission included) to its completion:
    // the disk tier's own read_latency, beside fio's lat_ns (slat + clat). A get's time beyond
    // it is the tier's and the caller's CPU.
    std::vector<double> our_latency;
    std::vector<double> their_latency;
    std::uint64_t misses = 0;
    std::size_t read_size = 0;
    for (int round = 0; round < s.rounds; ++round) {
      const auto latency_before = tier->stats().read_latency;
      const auto r = random_gets(rt, *tier, count, value_bytes, depth, s.seconds);
      ours.push_back(r.iops);
      our_cpu.push_back(r.cpu_seconds_per_get * 1e6);
      misses += r.misses;
      const auto after = tier->stats();
      our_latency.push_back(
          std::chrono::duration<double, std::micro>(after.read_latency.sum - latency_before.sum)
              .count() /
          static_cast<double>(
              std::max<std::uint64_t>(1, after.read_latency.count - latency_before.count)));
      const double per_read =
          static_cast<double>(after.bytes_read - before.bytes_read) /
          static_cast<double>(std::max<std::uint64_t>(1, after.reads - before.reads));
      read_size = static_cast<std::size_t>(per_read / 512 + 0.5) * 512;
      if (!fio_available) continue;
      const std::string job =
          fio_common + " --rw=randread --iodepth=" + std::to_string(depth) +
          " --runtime=" + std::to_string(std::max(1, static_cast<int>(s.seconds))) +
          " --time_based";
      const auto plain = fio(job + " --bs=" + std::to_string(value_bytes), "read");
      const auto shaped =
          fio(job + " --bs=" + std::to_string(read_size) + " --blockalign=512", "read");
      theirs.push_back(plain.iops);
      same_shape.push_back(shaped.iops);
      their_cpu.push_back(plain.cpu_microseconds_per_io());
      same_shape_cpu.push_back(shaped.cpu_microseconds_per_io());
      their_latency.push_back(plain.mean_latency_ns / 1e3);
    }
    const std::string label = "random get, QD " + std::to_string(depth) + ", IOPS";
    print_row(label.c_str(), ours, theirs, "fio randread");
    const std::string shape = "fio " + std::to_string(read_size) + " B";
    print_row(label.c_str(), ours, same_shape, shape.c_str());
    std::printf("  (CPU per get %.1f us; fio's per read %.1f us, at %zu B %.1f us; medians)\n",
                median(our_cpu), median(their_cpu), read_size, median(same_shape_cpu));
    std::printf(
        "  (read latency %.1f us, fio's %.1f us; a get every %.1f us, fio's read every %.1f us)\n",
        median(our_latency), median(their_latency), 1e6 * depth / median(ours),
        theirs.empty() ? 0.0 : 1e6 * depth / median(theirs));
    if (misses != 0) {
      std::printf("  (%llu of the gets missed: keys displaced by an index tag collision)\n",
                  static_cast<unsigned long long>(misses));
    }
    if (depth == 1) {
      const auto p = pread_loop(dir / "regions", value_bytes, s.seconds);
      print_row(label.c_str(), {median(ours)}, {p.iops}, "pread loop");
    }
  }
  std::printf("  index: %.2f bytes per entry\n", tier->stats().index_bytes_per_entry);
  rt.run(tier->close());
  fs::remove_all(dir);
  fs::remove(fio_file);
}

void run_reopen(const settings& s) {
  const fs::path dir = s.dir / "reopen";
  fs::remove_all(dir);
  larder::disk_tier_options o;
  o.path = dir;
  o.capacity_bytes = 4096ull << 20;
  const std::vector<std::byte> value(200, std::byte{7});
  double clean = 0;
  double crashed = 0;
  std::uint64_t entries = 0;
  {
    larder::runtime rt({.threads = 1});
    larder::io::ring ring(rt.executor());
    larder::io::ring_file_io file_io(ring);
    auto tier = rt.run(larder::disk_tier::open(rt.executor(), file_io, o));
    rt.run([&]() -> larder::asio::awaitable<void> {
      for (std::uint64_t i = 0; i < s.reopen_entries; ++i)
        co_await tier->put(key_for(i), value);
    }());
    rt.run(tier->close());
  }
  for (bool after_crash : {false, true}) {
    larder::runtime rt({.threads = 1});
    larder::io::ring ring(rt.executor());
    larder::io::ring_file_io file_io(ring);
    const auto start = clock_type::now();
    auto tier = rt.run(larder::disk_tier::open(rt.executor(), file_io, o));
    (after_crash ? crashed : clean) = since(start);
    entries = tier->stats().entries;
    // Not closing: the snapshot is gone once opened, so the next open scans, as after a crash.
    (void)after_crash;
  }
  std::printf(
      "\nreopen with %llu entries of 200 bytes: %.3f s after a clean close (snapshot), "
      "%.3f s after a crash (scan); target < 1 s after a clean close\n",
      static_cast<unsigned long long>(entries), clean, crashed);
  fs::remove_all(dir);
}

constexpr const char* usage =
    "usage: disk_tier_bench [--dir DIR] [--mib N] [--seconds S] [--rounds R]\n"
    "                       [--reopen-entries N] [--values 4096,65536] [--depths 1,32]\n"
    "                       [--no-registered]\n"
    "The disk tier's fill, random gets and reopen beside fio and a pread loop (see the\n"
    "comment at the top of bench/disk_tier_bench.cpp and bench/RESULTS.md).\n"
    "  --dir DIR            where the tier and fio's file go (default /tmp/larder-disk-bench)\n"
    "  --mib N              data per value size, MiB (default 1024)\n"
    "  --seconds S          length of each random-get run (default 3)\n"
    "  --rounds R           runs per measurement, each beside fio's; medians printed (default 3)\n"
    "  --reopen-entries N   entries for the reopen measurement; 0 skips it (default 1000000)\n"
    "  --values LIST        value sizes in bytes (default 4096,65536)\n"
    "  --depths LIST        concurrent gets (default 1,32)\n"
    "  --no-registered      the ring without its registered read buffers\n";

}  // namespace

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf("%s", usage);
      return 0;
    }
    if (flag == "--no-registered") {
      s.registered = false;
      --i;  // takes no value
    } else if (i + 1 >= argc) {
      std::fprintf(stderr, "disk_tier_bench: %s needs a value\n", flag.c_str());
      return 2;
    } else if (flag == "--dir")
      s.dir = argv[i + 1];
    else if (flag == "--mib")
      s.mib = std::stoull(argv[i + 1]);
    else if (flag == "--seconds")
      s.seconds = std::stod(argv[i + 1]);
    else if (flag == "--rounds")
      s.rounds = std::max(1, std::stoi(argv[i + 1]));
    else if (flag == "--reopen-entries")
      s.reopen_entries = std::stoull(argv[i + 1]);
    else if (flag == "--values")
      s.value_sizes = parse_list<std::size_t>(argv[i + 1]);
    else if (flag == "--depths")
      s.depths = parse_list<unsigned>(argv[i + 1]);
    else {
      std::fprintf(stderr, "disk_tier_bench: unknown option %s\n%s", flag.c_str(), usage);
      return 2;
    }
  }
  fs::create_directories(s.dir);
  const bool fio_available = larder::bench::fio_available();
  if (!fio_available) std::printf("fio not found: the fio columns are empty\n");
  for (std::size_t value_bytes : s.value_sizes) {
    run_size(s, value_bytes, fio_available);
  }
  if (s.reopen_entries > 0) run_reopen(s);
  return 0;
}
