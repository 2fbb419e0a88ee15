#include "demo_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "exit_codes.hpp"
#include "larder/cache/cache_manager.hpp"
#include "larder/config/config_error.hpp"
#include "larder/config/config_loader.hpp"
#include "larder/runtime/log.hpp"
#include "larder/runtime/runtime.hpp"
#include "larder/runtime/when_all.hpp"
#include "progress_bar.hpp"

namespace larder::tools {
namespace {

using clock_type = std::chrono::steady_clock;

// A synthetic sample: 8 bytes of index, 8 bytes of checksum, then pseudo-random bytes. The
// checksum lets the loop verify every sample it receives, as a real loop would trust its data.
constexpr std::size_t sample_header_bytes = 16;

std::uint64_t checksum(const std::byte* data, std::size_t size) {
  return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(data), size));
}

blob make_sample(std::uint64_t index, std::size_t size, std::uint64_t seed) {
  io::aligned_buffer buffer(std::max(size, sample_header_bytes));
  std::mt19937_64 rng(seed ^ (index * 0x9E3779B97F4A7C15ull));
  std::byte* data = buffer.data();
  for (std::size_t pos = sample_header_bytes; pos < buffer.size(); pos += 8) {
    const std::uint64_t word = rng();
    std::memcpy(data + pos, &word, std::min<std::size_t>(8, buffer.size() - pos));
  }
  const std::uint64_t sum =
      checksum(data + sample_header_bytes, buffer.size() - sample_header_bytes);
  std::memcpy(data, &index, 8);
  std::memcpy(data + 8, &sum, 8);
  return blob::from_buffer(std::move(buffer));
}

bool sample_is_intact(const blob& sample, std::uint64_t index) {
  if (sample.size() < sample_header_bytes) return false;
  std::uint64_t stored_index = 0;
  std::uint64_t stored_sum = 0;
  std::memcpy(&stored_index, sample.data(), 8);
  std::memcpy(&stored_sum, sample.data() + 8, 8);
  return stored_index == index && stored_sum == checksum(sample.data() + sample_header_bytes,
                                                         sample.size() - sample_header_bytes);
}

asio::awaitable<void> sleep_for(std::chrono::microseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

struct epoch_report {
  std::uint32_t steps = 0;
  double seconds = 0;
  std::uint64_t hits = 0;
  std::uint64_t lookups = 0;
  std::uint64_t loads = 0;
  std::uint64_t disk_hits = 0;
  std::uint64_t corrupt = 0;
};

class training_loop {
 public:
  training_loop(const demo_options& options, cache_manager& cache)
      : options_(options), cache_(cache) {}

  asio::awaitable<epoch_report> run_epoch(std::uint32_t epoch) {
    std::vector<std::uint64_t> order(options_.samples);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(options_.seed + epoch));

    const auto before = cache_.stats();
    const auto start = clock_type::now();
    epoch_report report;
    progress_bar progress(fmt::format("epoch {}/{}", epoch + 1, options_.epochs), order.size());
    for (std::size_t first = 0; first < order.size(); first += options_.batch_size) {
      const std::size_t last = std::min(order.size(), first + options_.batch_size);
      std::vector<asio::awaitable<blob>> batch;
      for (std::size_t i = first; i < last; ++i)
        batch.push_back(fetch(order[i]));
      auto samples = co_await when_all(std::move(batch));
      for (std::size_t i = 0; i < samples.size(); ++i) {
        if (!sample_is_intact(samples[i], order[first + i])) ++report.corrupt;
      }
      // The model's forward and backward pass.
      co_await sleep_for(std::chrono::microseconds(options_.compute_us));
      ++report.steps;
      progress.update(last);
    }
    progress.finish();
    report.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    const auto after = cache_.stats();
    report.hits = after.memory.hits - before.memory.hits;
    report.lookups = report.hits + (after.memory.misses - before.memory.misses);
    report.loads = after.loads - before.loads;
    if (after.disk && before.disk) report.disk_hits = after.disk->hits - before.disk->hits;
    co_return report;
  }

 private:
  asio::awaitable<blob> fetch(std::uint64_t index) {
    const std::string key = fmt::format("demo/sample/{:08}", index);
    co_return co_await cache_.get_or_load(key, [this, index]() -> asio::awaitable<blob> {
      // Slow storage: the read takes load_latency_us.
      co_await sleep_for(std::chrono::microseconds(options_.load_latency_us));
      co_return make_sample(index, options_.sample_bytes, options_.seed);
    });
  }

  const demo_options& options_;
  cache_manager& cache_;
};

}  // namespace

int run_demo(const demo_options& options) {
  cache_config config;
  try {
    config = load_config(options.config_file);
    set_log_level(config.logging.level);
  } catch (const std::exception& e) {
    std::cerr << "larder demo: " << e.what() << "\n";
    return exit_usage;
  }

  const double dataset_mb = static_cast<double>(options.samples) * options.sample_bytes / 1e6;
  std::cout << fmt::format(
      "larder demo: {} samples x {} KiB ({:.0f} MB), batch {}, {} epochs\n"
      "  storage latency {} us per sample, compute {} us per step\n"
      "  cache: memory {} MB, policy {}, eviction threshold {}, configuration {}\n",
      options.samples, options.sample_bytes / 1024, dataset_mb, options.batch_size, options.epochs,
      options.load_latency_us, options.compute_us, config.memory.size_bytes / 1000000,
      to_string(config.memory.policy), config.eviction_threshold,
      options.config_file.value_or("embedded default"));

  runtime rt({.threads = options.threads});
  std::unique_ptr<cache_manager> opened;
  try {
    opened = options.memory_only ? std::make_unique<cache_manager>(rt.executor(), config)
                                 : rt.run(cache_manager::open(rt.executor(), config));
  } catch (const std::exception& e) {
    std::cerr << "larder demo: " << e.what() << "\n";
    return exit_usage;
  }
  cache_manager& cache = *opened;
  if (!options.memory_only) {
    const auto disk = *cache.stats().disk;
    std::cout << fmt::format("  disk tier: {} ({} entries from earlier runs)\n",
                             config.disk.path.string(), disk.entries);
  }
  training_loop loop(options, cache);
  std::uint64_t corrupt = 0;
  double first_epoch_seconds = 0;
  double later_epochs_seconds = 0;
  for (std::uint32_t epoch = 0; epoch < options.epochs; ++epoch) {
    const epoch_report r = rt.run(loop.run_epoch(epoch));
    corrupt += r.corrupt;
    (epoch == 0 ? first_epoch_seconds : later_epochs_seconds) += r.seconds;
    const double hit_rate = r.lookups ? 100.0 * r.hits / r.lookups : 0.0;
    std::cout << fmt::format(
        "epoch {}: {} steps in {:.2f} s, {:.0f} samples/s, memory hit rate {:.1f}%, "
        "{} from disk, {} loads from storage{}\n",
        epoch + 1, r.steps, r.seconds, options.samples / r.seconds, hit_rate, r.disk_hits, r.loads,
        r.corrupt ? fmt::format(", {} CORRUPT samples", r.corrupt) : "");
  }
  if (options.epochs > 1 && later_epochs_seconds > 0) {
    std::cout << fmt::format("later epochs ran {:.1f}x faster than the first\n",
                             first_epoch_seconds * (options.epochs - 1) / later_epochs_seconds);
  }
  const auto s = cache.stats();
  std::cout << fmt::format(
      "cache: {} entries, {:.1f} MB of {:.0f} MB used, hit rate {:.1f}%, {} evictions, "
      "{} coalesced loads\n",
      s.memory.entries, s.memory.bytes_used / 1e6, s.memory.capacity_bytes / 1e6,
      100.0 * s.memory.hit_rate(), s.memory.evictions, s.coalesced_loads);
  if (s.disk) {
    std::cout << fmt::format(
        "disk: {} entries in {} region(s), {:.1f} MB written{}; run the demo again and the "
        "first epoch reads from disk instead of storage\n",
        s.disk->entries, s.disk->regions, s.disk->bytes_written / 1e6,
        s.disk->degraded ? ", DEGRADED (see the log)" : "");
    try {
      rt.run(cache.close());
    } catch (const std::system_error& e) {
      std::cerr << "larder demo: " << e.what() << "\n";
      return exit_failure;
    }
  }
  if (corrupt != 0) {
    std::cerr << "larder demo: " << corrupt << " samples failed verification\n";
    return exit_failure;
  }
  return exit_ok;
}

void add_demo_command(CLI::App& app, int& exit_status) {
  auto options = std::make_shared<demo_options>();
  CLI::App* demo = app.add_subcommand(
      "demo",
      "Run a synthetic training loop that reads its samples through the cache: the first epoch "
      "loads from (simulated) slow storage, later epochs hit memory, and a second run of the "
      "demo finds the samples in the disk tier (cache.disk.path).");
  demo->add_option("-c,--config", options->config_file,
                   "YAML or TOML configuration (default: the embedded configuration)")
      ->check(CLI::ExistingFile);
  demo->add_option("--samples", options->samples, "Samples in the dataset")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000000u));
  demo->add_option("--sample-bytes", options->sample_bytes, "Bytes per sample")
      ->capture_default_str()
      ->check(CLI::Range(16u, 1u << 30));
  demo->add_option("--epochs", options->epochs, "Epochs to run")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000u));
  demo->add_option("--batch-size", options->batch_size, "Samples per step")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000000u));
  demo->add_option("--load-latency-us", options->load_latency_us,
                   "Simulated storage latency per sample, microseconds")
      ->capture_default_str();
  demo->add_option("--compute-us", options->compute_us, "Simulated compute per step, microseconds")
      ->capture_default_str();
  demo->add_option("--seed", options->seed, "Shuffle and data seed")->capture_default_str();
  demo->add_flag("--memory-only", options->memory_only,
                 "No disk tier: nothing persists to the next run");
  demo->add_option("--threads", options->threads, "Worker threads (0: one per hardware thread)")
      ->capture_default_str();
  demo->callback([options, &exit_status] { exit_status = run_demo(*options); });
}

}  // namespace larder::tools
