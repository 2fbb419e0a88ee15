// ring_read_bench: random O_DIRECT reads through larder::io::ring, side by side in one run with a
// synchronous pread loop and with fio's io_uring engine on the same file, block size and queue
// depth (DESIGN.md, "Performance targets"; the disk tier's target is >= 90 % of fio).
//
// Usage: ring_read_bench [--file PATH] [--size-mib N] [--seconds S] [--no-fio] [--block B]
//                        [--depth D]
//                        [--repeat N] [--max-batch N]
// --block and --depth restrict the run to one block size (bytes) or one queue depth. Each figure
// is the median of --repeat runs (default 3), the ring's and fio's interleaved, so that a noisy
// neighbour on a shared disk hurts both sides alike. --max-batch sets ring_options::max_batch
// (the measurement that chose its default).
// The file (default /tmp/larder-ring-bench.dat, 1024 MiB) is filled with random bytes unless it
// already has the requested size. Queue depth N through the ring is N coroutines on one thread,
// each keeping one read in flight; the pread loop is queue depth 1 by nature.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <larder/io/aligned_buffer.hpp>
#include <larder/io/file.hpp>
#include <larder/io/ring.hpp>

#include "fio_job.hpp"

namespace {

namespace asio = larder::asio;
using clock_type = std::chrono::steady_clock;

struct options {
  std::filesystem::path file = "/tmp/larder-ring-bench.dat";
  std::uint64_t size = std::uint64_t{1024} << 20;
  double seconds = 3;
  bool fio = true;
  std::vector<std::size_t> blocks{4096, 65536};
  std::vector<unsigned> depths{1, 32};
  unsigned repeat = 3;
  larder::io::ring_options ring;
};

struct figures {
  double iops = 0;
  double bytes_per_second = 0;
  double sqes_per_submit = 0;  // the ring only
};

// The run with the median IOPS.
figures median(std::vector<figures> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const figures& a, const figures& b) { return a.iops < b.iops; });
  return runs[runs.size() / 2];
}

// xorshift64*: cheap enough not to show up next to a 4 KiB read.
class random_blocks {
 public:
  random_blocks(std::uint64_t seed, std::uint64_t blocks) : state_(seed | 1), blocks_(blocks) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return (state_ * 0x2545F4914F6CDD1DULL) % blocks_;
  }

 private:
  std::uint64_t state_;
  std::uint64_t blocks_;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--file") {
      o.file = value();
    } else if (arg == "--size-mib") {
      o.size = std::stoull(value()) << 20;
    } else if (arg == "--seconds") {
      o.seconds = std::stod(value());
    } else if (arg == "--no-fio") {
      o.fio = false;
    } else if (arg == "--block") {
      o.blocks = {std::stoul(value())};
    } else if (arg == "--depth") {
      o.depths = {static_cast<unsigned>(std::stoul(value()))};
    } else if (arg == "--max-batch") {
      o.ring.max_batch = static_cast<unsigned>(std::stoul(value()));
    } else if (arg == "--repeat") {
      o.repeat = static_cast<unsigned>(std::stoul(value()));
    } else {
      throw std::invalid_argument("unknown option " + std::string(arg) +
                                  "; use --file PATH, --size-mib N, --seconds S, --no-fio, "
                                  "--block B, --depth D, --repeat N, --max-batch N");
    }
  }
  for (std::size_t block : o.blocks) {
    if (block == 0 || block % 4096 != 0 || block > o.size) {
      throw std::invalid_argument("--block must be a multiple of 4096 no larger than the file");
    }
  }
  if (o.depths.front() == 0) throw std::invalid_argument("--depth must be at least 1");
  if (o.repeat == 0) throw std::invalid_argument("--repeat must be at least 1");
  return o;
}

// Random bytes, not a sparse file: reading a hole costs the device nothing.
void prepare_file(const options& o) {
  std::error_code ec;
  if (std::filesystem::file_size(o.file, ec) == o.size && !ec) {
    std::printf("reusing %s\n", o.file.c_str());
    return;
  }
  std::printf("writing %llu MiB of random data to %s\n",
              static_cast<unsigned long long>(o.size >> 20), o.file.c_str());
  const int fd = ::open(o.file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::system_category(), o.file.string());
  constexpr std::size_t chunk = 4 << 20;
  std::vector<std::uint64_t> words(chunk / sizeof(std::uint64_t));
  random_blocks random(42, ~std::uint64_t{0});
  for (std::uint64_t offset = 0; offset < o.size; offset += chunk) {
    for (auto& w : words)
      w = random.next();
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, o.size - offset));
    if (::pwrite(fd, words.data(), n, static_cast<off_t>(offset)) != static_cast<ssize_t>(n)) {
      throw std::system_error(errno, std::system_category(), "writing " + o.file.string());
    }
  }
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

struct ring_run {
  unsigned readers = 0;
  unsigned finished = 0;
  std::uint64_t reads = 0;
  std::uint64_t failures = 0;
};

asio::awaitable<void> ring_reader(larder::io::ring& ring, asio::io_context& ctx, int fd,
                                  std::size_t block, std::uint64_t blocks,
                                  clock_type::time_point deadline, std::uint64_t seed,
                                  ring_run& run) {
  auto buffer = std::make_shared<larder::io::aligned_buffer>(block, 4096);
  random_blocks random(seed, blocks);
  while (clock_type::now() < deadline) {
    const larder::io::io_result r =
        co_await ring.read_at(fd, buffer, 0, block, random.next() * block);
    if (!r.ok() || r.bytes != block) {
      ++run.failures;
      break;
    }
    ++run.reads;
  }
  if (++run.finished == run.readers) ctx.stop();
}

figures measure_ring(const larder::io::file& f, const options& o, std::size_t block,
                     unsigned depth) {
  asio::io_context ctx(1);
  larder::io::ring ring(ctx.get_executor(), o.ring);
  ring_run run{.readers = depth};
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration<double>(o.seconds);
  for (unsigned i = 0; i < depth; ++i) {
    asio::co_spawn(ctx,
                   ring_reader(ring, ctx, f.fd(), block, o.size / block,
                               std::chrono::time_point_cast<clock_type::duration>(deadline),
                               0x9E3779B97F4A7C15ULL * (i + 1), run),
                   asio::detached);
  }
  ctx.run();
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  if (run.failures != 0) throw std::runtime_error("a read through the ring failed");
  const auto stats = ring.stats();
  return {run.reads / elapsed, run.reads * static_cast<double>(block) / elapsed,
          static_cast<double>(stats.sqes_submitted) /
              static_cast<double>(std::max<std::uint64_t>(1, stats.submit_calls))};
}

figures measure_pread(const larder::io::file& f, const options& o, std::size_t block) {
  larder::io::aligned_buffer buffer(block, 4096);
  random_blocks random(7, o.size / block);
  std::uint64_t reads = 0;
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration<double>(o.seconds);
  while (clock_type::now() < deadline) {
    const auto offset = static_cast<off_t>(random.next() * block);
    if (::pread(f.fd(), buffer.data(), block, offset) != static_cast<ssize_t>(block)) {
      throw std::system_error(errno, std::system_category(), "pread");
    }
    ++reads;
  }
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  return {reads / elapsed, reads * static_cast<double>(block) / elapsed, 0};
}

// fio's arguments (without the output format run_fio adds).
std::string fio_command(const options& o, std::size_t block, unsigned depth) {
  return "--name=x --filename=" + o.file.string() +
         " --ioengine=io_uring --direct=1 --rw=randread --bs=" + std::to_string(block) +
         " --iodepth=" + std::to_string(depth) + " --size=" + std::to_string(o.size) +
         " --runtime=" + std::to_string(static_cast<int>(o.seconds + 0.5)) + " --time_based";
}

std::optional<figures> measure_fio(const options& o, std::size_t block, unsigned depth) {
  const auto run = larder::bench::run_fio(fio_command(o, block, depth), "read");
  if (!run) return std::nullopt;
  return figures{run->iops, run->bytes_per_second, 0};
}

std::string ratio(double a, double b) {
  if (b <= 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", a / b);
  return text;
}

void print_row(const char* engine, std::size_t block, unsigned depth, const figures& f,
               const std::string& vs_fio, const std::string& vs_pread) {
  std::printf("%6zuK %3u  %-14s %10.0f %10.1f %8s %9s\n", block / 1024, depth, engine, f.iops,
              f.bytes_per_second / 1e6, vs_fio.c_str(), vs_pread.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const options o = parse(argc, argv);
    prepare_file(o);
    const larder::io::file f = larder::io::file::open(o.file);
    std::printf("%s: %llu MiB, %s, %.1f s per run\n", o.file.c_str(),
                static_cast<unsigned long long>(o.size >> 20),
                f.is_direct() ? "O_DIRECT" : "buffered (O_DIRECT refused)", o.seconds);
    const bool fio = o.fio && larder::bench::fio_available();
    if (o.fio && !fio) std::printf("fio not on PATH: no fio column\n");
    if (fio) {
      std::printf("fio runs as (bs and iodepth of each row): fio %s\n",
                  fio_command(o, o.blocks.front(), o.depths.back()).c_str());
    }

    std::printf("median of %u runs each\n\n%7s %3s  %-14s %10s %10s %8s %9s\n", o.repeat, "block",
                "qd", "engine", "IOPS", "MB/s", "vs fio", "vs pread");
    for (std::size_t block : o.blocks) {
      std::vector<figures> pread_runs;
      for (unsigned r = 0; r < o.repeat; ++r)
        pread_runs.push_back(measure_pread(f, o, block));
      const figures pread = median(pread_runs);
      for (unsigned depth : o.depths) {
        std::vector<figures> ring_runs;
        std::vector<figures> fio_runs;
        for (unsigned r = 0; r < o.repeat; ++r) {
          ring_runs.push_back(measure_ring(f, o, block, depth));
          if (!fio) continue;
          if (auto run = measure_fio(o, block, depth)) {
            fio_runs.push_back(*run);
          } else {
            std::printf("    fio failed: %s\n", fio_command(o, block, depth).c_str());
          }
        }
        const figures ring = median(ring_runs);
        const std::optional<figures> fio_figures =
            fio_runs.empty() ? std::nullopt : std::optional(median(fio_runs));
        const std::string vs_fio = fio_figures ? ratio(ring.iops, fio_figures->iops) : "-";
        print_row("larder ring", block, depth, ring, vs_fio, ratio(ring.iops, pread.iops));
        std::printf("%24s(%.1f SQEs per io_uring_submit)\n", "", ring.sqes_per_submit);
        if (fio_figures) {
          print_row("fio io_uring", block, depth, *fio_figures, "1.00",
                    ratio(fio_figures->iops, pread.iops));
        }
      }
      print_row("pread loop", block, 1, pread, "-", "1.00");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ring_read_bench: %s\n", e.what());
    return 1;
  }
}
