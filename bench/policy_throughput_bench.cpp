// Throughput of the memory tier under each eviction policy, at 1 and 2 threads, against the
// baseline a simple cache would be: one mutex over an std::unordered_map and an std::list LRU.
//
// Two workloads:
//  - get_hit: every key fits; gets only. Shows the cost of recording hits: a counter in the entry
//    (s3fifo, sieve), per-thread buffers applied by writers (lru, wtinylfu), nothing (fifo).
//  - get_or_put: Zipf(0.99) requests over 131,072 keys into a tier holding 10 % of them; a miss
//    puts the value, so eviction runs all the time. Also reports each policy's hit ratio.
//
//   build/release/bench/policy_throughput_bench --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
#include <cmath>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>

#include "larder/cache/memory_tier.hpp"

namespace {

using larder::blob;
using larder::memory_policy;

constexpr std::size_t key_count = 1 << 17;
constexpr std::size_t request_count = 1 << 21;
constexpr std::size_t value_bytes = 64;
constexpr double zipf_alpha = 0.99;
constexpr double cached_share = 0.10;

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> out;
    out.reserve(key_count);
    for (std::size_t i = 0; i < key_count; ++i)
      out.push_back("sample/" + std::to_string(i));
    return out;
  }();
  return k;
}

// Key indices drawn from Zipf(alpha): key i has weight 1 / (i + 1)^alpha. Key order is shuffled
// so that popular keys are spread over the shards.
const std::vector<std::uint32_t>& zipf_requests() {
  static const std::vector<std::uint32_t> r = [] {
    std::vector<double> weights(key_count);
    for (std::size_t i = 0; i < key_count; ++i)
      weights[i] = 1.0 / std::pow(static_cast<double>(i + 1), zipf_alpha);
    std::mt19937_64 rng(42);
    std::vector<std::uint32_t> rank_to_key(key_count);
    for (std::size_t i = 0; i < key_count; ++i)
      rank_to_key[i] = static_cast<std::uint32_t>(i);
    std::shuffle(rank_to_key.begin(), rank_to_key.end(), rng);
    std::discrete_distribution<std::uint32_t> pick(weights.begin(), weights.end());
    std::vector<std::uint32_t> out(request_count);
    for (auto& k : out)
      k = rank_to_key[pick(rng)];
    return out;
  }();
  return r;
}

const blob& value() {
  static const blob v = blob::copy_of(std::string(value_bytes, 'v'));
  return v;
}

memory_policy policy_of(const benchmark::State& state) {
  return larder::all_memory_policies[state.range(0)];
}

std::uint64_t footprint_of_all_keys() {
  std::uint64_t total = 0;
  for (const auto& k : keys())
    total += larder::memory_tier::charge_for(k.size(), value_bytes);
  return total;
}

// One tier per policy and workload, shared by the threads of a run and kept across runs.
larder::memory_tier& tier_for(memory_policy policy, bool everything_fits) {
  static std::mutex mu;
  static std::unordered_map<int, std::unique_ptr<larder::memory_tier>> tiers;
  std::lock_guard lock(mu);
  auto& slot = tiers[static_cast<int>(policy) * 2 + (everything_fits ? 1 : 0)];
  if (!slot) {
    larder::memory_tier_options o;
    o.policy = policy;
    o.shards = 16;
    const double share = everything_fits ? 1.5 : cached_share;
    o.capacity_bytes =
        static_cast<std::uint64_t>(static_cast<double>(footprint_of_all_keys()) * share);
    slot = std::make_unique<larder::memory_tier>(o);
    if (everything_fits) {
      for (const auto& k : keys())
        slot->put(k, value());
    }
  }
  return *slot;
}

// The baseline: one mutex, a hash map and an LRU list, bounded by entry count.
class mutex_lru {
 public:
  explicit mutex_lru(std::size_t capacity) : capacity_(capacity) {}
  std::optional<blob> get(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second.position);
    return it->second.value;
  }
  void put(const std::string& key, blob v) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) {
      it->second.value = std::move(v);
      order_.splice(order_.begin(), order_, it->second.position);
      return;
    }
    if (map_.size() >= capacity_) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(key);
    map_.emplace(key, slot{std::move(v), order_.begin()});
  }

 private:
  struct slot {
    blob value;
    std::list<std::string>::iterator position;
  };
  std::mutex mu_;
  std::size_t capacity_;
  std::list<std::string> order_;
  std::unordered_map<std::string, slot> map_;
};

mutex_lru& baseline_for(bool everything_fits) {
  static mutex_lru fits(key_count);
  static mutex_lru tenth(static_cast<std::size_t>(key_count * cached_share));
  static bool filled = [] {
    for (const auto& k : keys())
      fits.put(k, value());
    return true;
  }();
  (void)filled;
  return everything_fits ? fits : tenth;
}

// Each thread starts at its own place in the request stream.
std::size_t start_of(const benchmark::State& state) {
  return static_cast<std::size_t>(state.thread_index()) * (request_count / 2);
}

void BM_get_hit(benchmark::State& state) {
  auto& tier = tier_for(policy_of(state), true);
  const auto& k = keys();
  std::size_t i = start_of(state);
  for (auto _ : state) {
    auto v = tier.get(k[i++ & (key_count - 1)]);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(larder::to_string(policy_of(state))));
}

void BM_baseline_get_hit(benchmark::State& state) {
  auto& lru = baseline_for(true);
  const auto& k = keys();
  std::size_t i = start_of(state);
  for (auto _ : state) {
    auto v = lru.get(k[i++ & (key_count - 1)]);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename Cache>
void run_get_or_put(benchmark::State& state, Cache& cache) {
  const auto& k = keys();
  const auto& requests = zipf_requests();
  std::size_t i = start_of(state);
  std::uint64_t hits = 0;
  for (auto _ : state) {
    const std::string& key = k[requests[i++ & (request_count - 1)]];
    if (cache.get(key)) {
      ++hits;
    } else {
      cache.put(key, value());
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_ratio"] =
      benchmark::Counter(static_cast<double>(hits) / static_cast<double>(state.iterations()),
                         benchmark::Counter::kAvgThreads);
}

void BM_get_or_put(benchmark::State& state) {
  run_get_or_put(state, tier_for(policy_of(state), false));
  state.SetLabel(std::string(larder::to_string(policy_of(state))));
}

void BM_baseline_get_or_put(benchmark::State& state) {
  run_get_or_put(state, baseline_for(false));
}

void each_policy(benchmark::internal::Benchmark* b) {
  for (std::size_t p = 0; p < std::size(larder::all_memory_policies); ++p) {
    b->Arg(static_cast<std::int64_t>(p));
  }
}

BENCHMARK(BM_baseline_get_hit)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_get_hit)->Apply(each_policy)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_baseline_get_or_put)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_get_or_put)->Apply(each_policy)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
