// Miss ratios of every memory-tier eviction policy on generated traces, at four cache sizes,
// with LRU as the baseline in the same run (the comparison the S3-FIFO and SIEVE papers make).
//
// Workloads (cache/include/larder/cache/replay/synthetic_trace.hpp):
//  - zipf-0.6 ... zipf-1.2: Zipf popularity over `objects` objects, unit sizes; cache sizes are
//    entry counts, 0.1 %, 1 %, 5 % and 10 % of the distinct objects requested.
//  - scan-mixed: Zipf 1.0 with, after every 200,000 requests, a scan of 100,000 objects seen once.
//  - zipf-1.0-sized: Zipf 1.0 with sizes log-uniform in [1 KiB, 1 MiB]; cache sizes are bytes,
//    the same shares of the working set's bytes; byte miss ratios are printed too.
// Each cell is a miss ratio (lower is better); "vs lru" is the relative reduction of the miss
// ratio against LRU at the same size (positive: fewer misses than LRU).
//
//   build/release/bench/policy_miss_ratio_bench [--objects 100000] [--requests 2000000]
//       [--threads 2]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "bench_arguments.hpp"
#include "larder/cache/replay/synthetic_trace.hpp"
#include "larder/cache/replay/trace_replayer.hpp"
#include "larder/cache/replay/working_set.hpp"

namespace {

using namespace larder;

struct workload {
  std::string name;
  synthetic_trace_options trace;
  bool sized = false;
};

constexpr double cache_shares[] = {0.001, 0.01, 0.05, 0.10};

struct totals {
  double reduction_sum = 0;
  int cells = 0;
  int better = 0;
};

void print_row(const char* label, const std::vector<double>& cells) {
  std::printf("  %-10s", label);
  for (double v : cells)
    std::printf(" %9.4f", v);
  std::printf("\n");
}

void run(const workload& w, unsigned threads, std::map<memory_policy, totals>& summary) {
  synthetic_trace measure_source(w.trace);
  const working_set ws = measure_working_set(measure_source);
  std::vector<replay_settings> settings;
  for (memory_policy p : all_memory_policies) {
    for (double share : cache_shares) {
      replay_settings s;
      s.policy = p;
      s.ignore_size = !w.sized;
      const double whole = static_cast<double>(w.sized ? ws.bytes : ws.objects);
      s.capacity = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(whole * share));
      settings.push_back(s);
    }
  }
  const auto counts =
      replay_trace([&] { return std::make_unique<synthetic_trace>(w.trace); }, settings, threads);

  std::printf("\n%s: %llu requests, %llu objects, %.1f MiB working set\n", w.name.c_str(),
              static_cast<unsigned long long>(ws.requests),
              static_cast<unsigned long long>(ws.objects),
              static_cast<double>(ws.bytes) / (1 << 20));
  std::printf("  %-10s", w.sized ? "bytes" : "entries");
  for (std::size_t i = 0; i < std::size(cache_shares); ++i) {
    std::printf(" %9llu", static_cast<unsigned long long>(settings[i].capacity));
  }
  std::printf("\n  %-10s", "share");
  for (double share : cache_shares)
    std::printf(" %8.1f%%", share * 100);
  std::printf("\n");

  const std::size_t n = std::size(cache_shares);
  auto ratios = [&](std::size_t policy_index, bool bytes) {
    std::vector<double> out;
    for (std::size_t i = 0; i < n; ++i) {
      const replay_counts& c = counts[policy_index * n + i];
      out.push_back(bytes ? c.byte_miss_ratio() : c.object_miss_ratio());
    }
    return out;
  };
  for (bool bytes : w.sized ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
    std::printf("  %s miss ratio\n", bytes ? "byte" : "object");
    const std::vector<double> lru = ratios(0, bytes);
    for (std::size_t p = 0; p < std::size(all_memory_policies); ++p) {
      const std::vector<double> mine = ratios(p, bytes);
      print_row(std::string(to_string(all_memory_policies[p])).c_str(), mine);
      if (p == 0) continue;
      std::vector<double> reduction;
      for (std::size_t i = 0; i < n; ++i) {
        const double r = lru[i] > 0 ? (lru[i] - mine[i]) / lru[i] : 0.0;
        reduction.push_back(r);
        if (!bytes) {
          totals& t = summary[all_memory_policies[p]];
          t.reduction_sum += r;
          ++t.cells;
          t.better += mine[i] < lru[i] ? 1 : 0;
        }
      }
      print_row("  vs lru", reduction);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t objects = 100'000;
  std::uint64_t requests = 2'000'000;
  unsigned threads = 2;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--objects") == 0) {
      objects = larder::bench::number_after(i, argc, argv);
    } else if (std::strcmp(argv[i], "--requests") == 0) {
      requests = larder::bench::number_after(i, argc, argv);
    } else if (std::strcmp(argv[i], "--threads") == 0) {
      threads = static_cast<unsigned>(larder::bench::number_after(i, argc, argv));
    } else {
      std::fprintf(stderr,
                   "usage: policy_miss_ratio_bench [--objects N] [--requests N] [--threads N]\n");
      return 2;
    }
  }

  std::vector<workload> workloads;
  for (double alpha : {0.6, 0.8, 1.0, 1.2}) {
    workload w;
    char name[32];
    std::snprintf(name, sizeof name, "zipf-%.1f", alpha);
    w.name = name;
    w.trace.objects = objects;
    w.trace.requests = requests;
    w.trace.alpha = alpha;
    workloads.push_back(w);
  }
  workload scan;
  scan.name = "scan-mixed (zipf-1.0, 100k-object scans every 200k requests)";
  scan.trace.objects = objects;
  scan.trace.requests = requests;
  scan.trace.alpha = 1.0;
  scan.trace.scan_interval = 200'000;
  scan.trace.scan_length = 100'000;
  workloads.push_back(scan);
  workload sized;
  sized.name = "zipf-1.0-sized (1 KiB - 1 MiB, log-uniform)";
  sized.trace.objects = objects;
  sized.trace.requests = requests;
  sized.trace.alpha = 1.0;
  sized.trace.min_size = 1024;
  sized.trace.max_size = 1 << 20;
  sized.sized = true;
  workloads.push_back(sized);

  std::map<memory_policy, totals> summary;
  for (const workload& w : workloads)
    run(w, threads, summary);

  std::printf("\nsummary over every workload and size (object miss ratio):\n");
  std::printf("  %-10s %22s %18s\n", "policy", "mean reduction vs lru", "cells better");
  for (const auto& [policy, t] : summary) {
    std::printf("  %-10s %21.1f%% %12d of %d\n", std::string(to_string(policy)).c_str(),
                100 * t.reduction_sum / t.cells, t.better, t.cells);
  }
  return 0;
}
