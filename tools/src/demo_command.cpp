#include "demo_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
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
#include "larder/cache/dataset_cache.hpp"
#include "larder/config/config_error.hpp"
#include "larder/config/config_loader.hpp"
#include "larder/io/ring.hpp"
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
  double stall_seconds = 0;
  std::uint64_t memory_hits = 0;
  std::uint64_t lookups = 0;
  std::uint64_t disk_hits = 0;
  std::uint64_t source_loads = 0;
  std::size_t max_reads_in_flight = 0;
  std::uint64_t corrupt = 0;
};

// Writes the dataset: `samples` records of `sample_bytes` in one file, as a data-preparation
// job would leave it on local or network storage.
void generate_dataset(const std::filesystem::path& file, const demo_options& options) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  progress_bar progress("generating the dataset", options.samples);
  for (std::uint32_t i = 0; i < options.samples; ++i) {
    const blob sample = make_sample(i, options.sample_bytes, options.seed);
    out.write(reinterpret_cast<const char*>(sample.data()),
              static_cast<std::streamsize>(sample.size()));
    progress.update(i + 1);
  }
  progress.finish();
  if (!out) throw std::runtime_error("cannot write the dataset to " + file.string());
}

// The dataset as slow storage serves it: each read waits load_latency_us first, then reads the
// record through io_uring.
asio::awaitable<blob> slow_read(std::shared_ptr<const dataset_source> records,
                                std::uint32_t latency_us, std::size_t index) {
  co_await sleep_for(std::chrono::microseconds(latency_us));
  co_return co_await records->read(index);
}

dataset_source slow_source(const dataset_source& records, std::uint32_t latency_us) {
  auto shared = std::make_shared<const dataset_source>(records);
  return callback_dataset(records.id, records.size, [shared, latency_us](std::size_t i) {
    return slow_read(shared, latency_us, i);
  });
}

class training_loop {
 public:
  training_loop(const demo_options& options, cache_manager& cache, const dataset_source& source)
      : options_(options), cache_(cache), datasets_(cache), source_(source) {}

  dataset_cache& datasets() { return datasets_; }

  asio::awaitable<epoch_report> run_epoch(std::uint32_t epoch, std::size_t prefetch,
                                          const std::string& label,
                                          const preprocess_step& step = {}) {
    const auto before = cache_.metrics();
    const auto start = clock_type::now();
    epoch_report report;
    auto stream = datasets_.stream_dataset(source_, step,
                                           {.batch_size = options_.batch_size,
                                            .prefetch = prefetch,
                                            .max_bytes_ahead = 512ull << 20,
                                            .shuffle = true,
                                            .seed = options_.seed,
                                            .epoch = epoch});
    progress_bar progress(label, source_.size);
    std::size_t done = 0;
    while (auto batch = co_await stream->next()) {
      for (std::size_t i = 0; i < batch->samples.size(); ++i) {
        if (!sample_is_intact(batch->samples[i], batch->indices[i])) ++report.corrupt;
      }
      // The model's forward and backward pass.
      co_await sleep_for(std::chrono::microseconds(options_.compute_us));
      ++report.steps;
      done += batch->samples.size();
      progress.update(done);
    }
    progress.finish();
    report.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    report.stall_seconds = std::chrono::duration<double>(stream->stats().stall).count();
    report.max_reads_in_flight = stream->stats().max_reads_in_flight;
    const auto after = cache_.metrics();
    report.memory_hits = after.memory.hits - before.memory.hits;
    report.lookups = report.memory_hits + (after.memory.misses - before.memory.misses);
    report.source_loads = after.loads - before.loads;
    if (after.disk && before.disk) report.disk_hits = after.disk->hits - before.disk->hits;
    co_return report;
  }

 private:
  const demo_options& options_;
  cache_manager& cache_;
  dataset_cache datasets_;
  const dataset_source& source_;
};

std::string describe(const epoch_report& r, std::uint32_t samples) {
  const double hit_rate = r.lookups ? 100.0 * r.memory_hits / r.lookups : 0.0;
  return fmt::format(
      "{} steps in {:.2f} s, {:.0f} samples/s, data stall {:.2f} s ({:.0f}%); memory {:.1f}%, "
      "disk {}, source {}; up to {} reads in flight{}",
      r.steps, r.seconds, samples / r.seconds, r.stall_seconds,
      r.seconds > 0 ? 100.0 * r.stall_seconds / r.seconds : 0.0, hit_rate, r.disk_hits,
      r.source_loads, r.max_reads_in_flight,
      r.corrupt ? fmt::format(", {} CORRUPT samples", r.corrupt) : "");
}

// The demo's working directory: --dir, kept, or a fresh temporary one removed on exit.
class work_directory {
 public:
  explicit work_directory(const std::optional<std::string>& dir) {
    if (dir) {
      path_ = *dir;
      std::filesystem::create_directories(path_);
      return;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "larder-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot create a temporary directory");
    }
    path_ = pattern;
    remove_ = true;
  }
  ~work_directory() {
    std::error_code ignored;
    if (remove_) std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  bool temporary() const { return remove_; }

 private:
  std::filesystem::path path_;
  bool remove_ = false;
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
  const std::size_t prefetch = options.prefetch.value_or(config.training_cache.prefetch);

  std::optional<work_directory> work;
  try {
    work.emplace(options.dir);
  } catch (const std::exception& e) {
    std::cerr << "larder demo: " << e.what() << "\n";
    return exit_usage;
  }
  const auto dataset_file = work->path() / "dataset.bin";
  config.disk.path = work->path() / "cache";
  const double dataset_mb = static_cast<double>(options.samples) * options.sample_bytes / 1e6;
  std::cout << fmt::format(
      "larder demo: {} samples x {} KiB ({:.0f} MB) in {}{}\n"
      "  storage latency {} us per sample, compute {} us per step of {} samples, {} epochs, "
      "prefetch {} batches\n"
      "  cache: memory {} MB ({}), disk tier {}, configuration {}\n",
      options.samples, options.sample_bytes / 1024, dataset_mb, work->path().string(),
      work->temporary() ? " (temporary)" : "", options.load_latency_us, options.compute_us,
      options.batch_size, options.epochs, prefetch, config.memory.size_bytes / 1000000,
      to_string(config.memory.policy),
      options.memory_only ? std::string("off") : config.disk.path.string(),
      options.config_file.value_or("embedded default"));

  runtime rt({.threads = options.threads});
  io::ring ring(rt.executor());
  io::ring_file_io source_io(ring);
  std::unique_ptr<cache_manager> opened;
  dataset_source records;
  try {
    if (!std::filesystem::exists(dataset_file) ||
        std::filesystem::file_size(dataset_file) !=
            std::uint64_t{options.samples} * options.sample_bytes) {
      generate_dataset(dataset_file, options);
    }
    records = record_file_dataset(source_io, dataset_file, options.sample_bytes);
    opened = options.memory_only ? std::make_unique<cache_manager>(rt.executor(), config)
                                 : rt.run(cache_manager::open(rt.executor(), config));
  } catch (const std::exception& e) {
    std::cerr << "larder demo: " << e.what() << "\n";
    return exit_failure;
  }
  cache_manager& cache = *opened;
  if (!options.memory_only) {
    std::cout << fmt::format("  disk tier holds {} entries from earlier runs\n",
                             cache.metrics().disk->entries);
  }
  const dataset_source source = slow_source(records, options.load_latency_us);
  training_loop loop(options, cache, source);
  // A dataset larger than memory keeps a stable part resident rather than thrashing under the
  // epochs' random orders.
  const std::uint64_t dataset_bytes =
      std::uint64_t{options.samples} * memory_tier::charge_for(24, options.sample_bytes);
  const double fraction = loop.datasets().resident_fraction(dataset_bytes);
  if (fraction < 1.0) {
    loop.datasets().keep_resident_subset(dataset_cache::fingerprint(source), fraction);
    std::cout << fmt::format(
        "  the dataset is larger than memory: {:.0f}% of it is kept resident, the rest is read "
        "from the disk tier\n",
        100 * fraction);
  }

  std::uint64_t corrupt = 0;
  std::vector<epoch_report> reports;
  try {
    for (std::uint32_t epoch = 0; epoch < options.epochs; ++epoch) {
      const epoch_report r = rt.run(
          loop.run_epoch(epoch, prefetch, fmt::format("epoch {}/{}", epoch + 1, options.epochs)));
      corrupt += r.corrupt;
      reports.push_back(r);
      std::cout << fmt::format("epoch {}: {}\n", epoch + 1, describe(r, options.samples));
    }
    // Epoch 1 again, cold (under other cache keys, as a new preprocessing would be) and
    // without prefetch: what the loop waits for without it.
    if (prefetch > 0) {
      const epoch_report r = rt.run(loop.run_epoch(0, 0, "comparison: cold epoch, no prefetch",
                                                   {.version = "no-prefetch", .apply = {}}));
      corrupt += r.corrupt;
      std::cout << fmt::format("epoch 1 again, cold, without prefetch: {}\n",
                               describe(r, options.samples));
      const epoch_report& first = reports.front();
      std::cout << fmt::format(
          "summary: epoch 1 read {} samples from the source{}; prefetch cut its data stall from "
          "{:.2f} s to {:.2f} s ({:.1f}x faster epoch)\n",
          first.source_loads,
          reports.size() > 1 ? fmt::format(", later epochs came from the cache ({:.1f}x faster)",
                                           first.seconds / std::max(1e-9, reports.back().seconds))
                             : std::string(),
          r.stall_seconds, first.stall_seconds, r.seconds / std::max(1e-9, first.seconds));
    }
  } catch (const std::exception& e) {
    std::cerr << "larder demo: " << e.what() << "\n";
    return exit_failure;
  }
  const auto s = cache.metrics();
  std::cout << fmt::format(
      "cache: {} entries, {:.1f} MB of {:.0f} MB used, memory hit rate {:.1f}%, {} evictions, "
      "{} coalesced loads\n",
      s.memory.entries, s.memory.bytes_used / 1e6, s.memory.capacity_bytes / 1e6,
      100.0 * s.memory.hit_rate(), s.memory.evictions, s.coalesced_loads);
  if (s.disk) {
    std::cout << fmt::format("disk: {} entries in {} region(s), {:.1f} MB written{}\n",
                             s.disk->entries, s.disk->regions, s.disk->bytes_written / 1e6,
                             s.disk->degraded ? ", DEGRADED (see the log)" : "");
    try {
      rt.run(cache.close());
    } catch (const std::system_error& e) {
      std::cerr << "larder demo: " << e.what() << "\n";
      return exit_failure;
    }
  }
  if (!work->temporary()) {
    std::cout << fmt::format(
        "kept {}: run the demo again with --dir {} and epoch 1 reads from "
        "the disk tier instead of the source\n",
        work->path().string(), work->path().string());
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
      "Run a training loop that streams a dataset it generates on disk through the cache, with "
      "prefetch: the first epoch reads from (simulated) slow storage, later epochs from the cache; "
      "a last epoch without prefetch shows the data stall it saves.");
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
  demo->add_flag("--memory-only", options->memory_only, "No disk tier");
  demo->add_option("--prefetch", options->prefetch,
                   "Batches read ahead (default: training_cache.prefetch of the configuration)")
      ->check(CLI::Range(0u, 1024u));
  demo->add_option("--dir", options->dir,
                   "Keep the dataset and the cache in DIR (default: a temporary directory, removed "
                   "at the end); a second run with the same DIR reads epoch 1 from the disk tier");
  demo->add_option("--threads", options->threads, "Worker threads (0: one per hardware thread)")
      ->capture_default_str();
  demo->callback([options, &exit_status] { exit_status = run_demo(*options); });
}

}  // namespace larder::tools
