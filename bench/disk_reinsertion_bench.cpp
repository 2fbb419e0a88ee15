// Disk-tier hit ratio under each region eviction order, with and without reinsertion of entries
// read while their region was live (issue 6), on a Zipf workload larger than the tier. The
// baseline is plain FIFO region eviction, in the same run.
//
// Each request is a get; a miss puts the value (a read-through cache with no memory tier in
// front). Reported: hit ratio, device bytes written per byte put (write amplification of the
// reinsertion copies) and entries reinserted.
//
//   build/release/bench/disk_reinsertion_bench [--requests 400000] [--objects 40000]
//       [--alpha 0.9] [--dir /var/tmp]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "bench_arguments.hpp"
#include "larder/cache/disk_tier.hpp"
#include "larder/cache/replay/synthetic_trace.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"

namespace {

namespace fs = std::filesystem;
using namespace larder;

struct variant {
  const char* name;
  region_eviction eviction;
  bool reinsertion;
};

struct outcome {
  double hit_ratio = 0;
  double write_amplification = 0;
  std::uint64_t reinsertions = 0;
};

constexpr std::uint64_t region_bytes = 1 << 20;
constexpr std::uint64_t regions = 32;
constexpr std::uint32_t value_bytes = 4000;

outcome run(const variant& v, const synthetic_trace_options& trace_options, const fs::path& dir) {
  fs::remove_all(dir);
  runtime rt({.threads = 1});
  io::ring ring(rt.executor());
  io::ring_file_io file_io(ring);
  disk_tier_options o;
  o.path = dir;
  o.capacity_bytes = regions * region_bytes;
  o.region_size = region_bytes;
  o.eviction = v.eviction;
  o.reinsertion = v.reinsertion;
  auto tier = rt.run(disk_tier::open(rt.executor(), file_io, o));
  const std::vector<std::byte> value(value_bytes, std::byte{'v'});
  std::uint64_t hits = 0;
  std::uint64_t requests = 0;
  std::uint64_t bytes_put = 0;
  rt.run([&]() -> asio::awaitable<void> {
    synthetic_trace trace(trace_options);
    while (auto request = trace.next()) {
      ++requests;
      if (co_await tier->get(request->key)) {
        ++hits;
      } else if (co_await tier->put(request->key, value)) {
        bytes_put += value_bytes;
      }
    }
    co_await tier->close();
  }());
  const disk_tier_stats s = tier->stats();
  outcome out;
  out.hit_ratio = static_cast<double>(hits) / static_cast<double>(requests);
  out.write_amplification =
      bytes_put == 0 ? 0 : static_cast<double>(s.bytes_written) / static_cast<double>(bytes_put);
  out.reinsertions = s.reinsertions;
  fs::remove_all(dir);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  synthetic_trace_options trace;
  trace.objects = 40'000;
  trace.requests = 400'000;
  trace.alpha = 0.9;
  fs::path base = "/var/tmp";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--requests") == 0) {
      trace.requests = larder::bench::number_after(i, argc, argv);
    } else if (std::strcmp(argv[i], "--objects") == 0) {
      trace.objects = larder::bench::number_after(i, argc, argv);
    } else if (std::strcmp(argv[i], "--alpha") == 0 && i + 1 < argc) {
      trace.alpha = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      base = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: disk_reinsertion_bench [--requests N] [--objects N] [--alpha A] "
                   "[--dir DIR]\n");
      return 2;
    }
  }
  const fs::path dir = base / ("larder-reinsertion-bench-" + std::to_string(::getpid()));
  std::printf(
      "Zipf(%.2f) over %llu objects of %u bytes (%.0f MiB), %llu requests; disk tier of "
      "%llu regions of %llu MiB\n",
      trace.alpha, static_cast<unsigned long long>(trace.objects), value_bytes,
      static_cast<double>(trace.objects * value_bytes) / (1 << 20),
      static_cast<unsigned long long>(trace.requests), static_cast<unsigned long long>(regions),
      static_cast<unsigned long long>(region_bytes >> 20));
  const variant variants[] = {{"fifo", region_eviction::fifo, false},
                              {"fifo + reinsertion", region_eviction::fifo, true},
                              {"lru", region_eviction::lru, false},
                              {"lru + reinsertion", region_eviction::lru, true}};
  std::printf("%-20s %10s %12s %14s %14s\n", "regions", "hit ratio", "vs fifo", "bytes written",
              "reinsertions");
  std::printf("%-20s %10s %12s %14s %14s\n", "", "", "(misses)", "per byte put", "");
  double fifo_misses = 0;
  for (const variant& v : variants) {
    const outcome o = run(v, trace, dir);
    const double misses = 1 - o.hit_ratio;
    if (fifo_misses == 0) fifo_misses = misses;
    std::printf("%-20s %10.4f %+11.1f%% %14.3f %14llu\n", v.name, o.hit_ratio,
                100 * (fifo_misses - misses) / fifo_misses, o.write_amplification,
                static_cast<unsigned long long>(o.reinsertions));
  }
  return 0;
}
