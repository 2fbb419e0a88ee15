#include "warm_command.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <system_error>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "exit_codes.hpp"
#include "larder/cache/cache_manager.hpp"
#include "larder/cache/dataset_cache.hpp"
#include "larder/cache/model/safetensors_file.hpp"
#include "larder/cache/model_cache.hpp"
#include "larder/config/config_error.hpp"
#include "larder/config/config_loader.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/log.hpp"
#include "larder/runtime/runtime.hpp"
#include "larder/runtime/when_all.hpp"
#include "progress_bar.hpp"

namespace larder::tools {
namespace {

namespace fs = std::filesystem;

struct warm_report {
  std::size_t already_cached = 0;
  std::size_t stored = 0;  // read from the source and stored
  std::uint64_t stored_bytes = 0;
  std::size_t failed = 0;
};

// A dataset's identity holds its absolute path (dataset_source.hpp): `/data/train/`, as a
// shell completes it, names the directory a training job opens as `/data/train`.
fs::path without_trailing_separator(const fs::path& path) {
  if (!path.has_filename() && path.has_relative_path()) return path.parent_path();
  return path;
}

// One item to warm: `store` reads it from the source and stores it in the cache, returning its
// bytes (or throwing); `name` says which item it is when it fails.
struct warm_item {
  std::function<asio::awaitable<std::size_t>()> store;
  std::string name;
};

// Stores every item, `parallel` at a time, with a progress bar; an item that fails is reported
// above the bar and the others go on. The workers run on the cache's executor rather than this
// coroutine's strand, so that storing (checksums, compression) runs on every thread.
asio::awaitable<warm_report> store_all(cache_manager& cache, const std::vector<warm_item>& items,
                                       std::size_t parallel) {
  warm_report report;
  progress_bar bar("warm", items.size());
  // mu protects report and bar: the workers run on the cache's threads.
  std::mutex mu;
  std::size_t done = 0;
  std::atomic<std::size_t> next{0};
  auto worker = [&]() -> asio::awaitable<void> {
    for (std::size_t k = next++; k < items.size(); k = next++) {
      std::string error;
      std::size_t bytes = 0;
      try {
        bytes = co_await items[k].store();
      } catch (const std::exception& e) {
        error = e.what();
      }
      std::lock_guard lock(mu);
      if (error.empty()) {
        ++report.stored;
        report.stored_bytes += bytes;
      } else {
        ++report.failed;
        bar.print_above(fmt::format("larder warm: cannot read {}: {}", items[k].name, error));
      }
      bar.update(++done);
    }
  };
  std::vector<asio::awaitable<void>> workers;
  const std::size_t count = std::min(parallel, std::max<std::size_t>(items.size(), 1));
  for (std::size_t i = 0; i < count; ++i)
    workers.push_back(asio::co_spawn(cache.get_executor(), worker(), asio::use_awaitable));
  co_await when_all(std::move(workers));
  bar.finish();
  co_return report;
}

// Reads and stores every sample that the disk tier does not hold yet, `parallel` at a time.
// The samples go through dataset_cache::sample(), the read path of a training job, so that the
// keys are the ones its streams look up. A sample that cannot be read is reported and the
// others go on.
asio::awaitable<warm_report> warm_samples(cache_manager& cache, const dataset_source& source,
                                          std::size_t parallel) {
  dataset_cache datasets(cache);
  // A named object, not a `{}` in the co_await below: GCC 12 destroyed that temporary twice
  // (a corrupted heap, a crash or a hang after a few samples).
  const preprocess_step raw_samples;
  const std::string fp = dataset_cache::fingerprint(source, raw_samples);
  std::vector<warm_item> to_store;
  std::size_t already_cached = 0;
  for (std::size_t i = 0; i < source.size; ++i) {
    if (cache.disk()->contains(dataset_cache::sample_key(fp, i))) {
      ++already_cached;
      continue;
    }
    auto store = [&datasets, &source, &raw_samples, &fp, i]() -> asio::awaitable<std::size_t> {
      const blob sample = co_await datasets.sample(source, raw_samples, fp, i);
      co_return sample.size();
    };
    to_store.push_back({std::move(store), source.sample_name(i)});
  }
  warm_report report = co_await store_all(cache, to_store, parallel);
  report.already_cached = already_cached;
  co_return report;
}

// The dataset's samples not in the disk tier now: those that could not be read, and those
// stored but since evicted by later ones because the dataset does not fit disk.size.
std::size_t samples_not_on_disk(cache_manager& cache, const dataset_source& source) {
  const std::string fp = dataset_cache::fingerprint(source);
  std::size_t missing = 0;
  for (std::size_t i = 0; i < source.size; ++i) {
    if (!cache.disk()->contains(dataset_cache::sample_key(fp, i))) ++missing;
  }
  return missing;
}

// How a warm run ended, and the words its summary uses for what was warmed.
struct warm_outcome {
  const char* items;   // "samples", "tensors"
  const char* source;  // "the source", "the file"
  std::size_t total = 0;
  warm_report report;
  double seconds = 0;
  bool degraded = false;
  std::size_t not_on_disk = 0;  // stored, then evicted: more than disk.size holds
  std::string too_large;        // what does not fit, for that message: "the dataset (1.0 MB)"
  std::string note;             // after the summary line, e.g. which items need no caching
};

// Prints the summary on stdout and each problem on stderr; returns the exit code.
int report_outcome(const warm_outcome& o, const cache_config& config) {
  const warm_report& r = o.report;
  std::cout << fmt::format(
      "warmed {} {}: {} read from {}, {:.1f} MB in {:.2f} s ({:.1f} MB/s); already cached {}; "
      "could not be read {}{}\n",
      o.total, o.items, r.stored, o.source, r.stored_bytes / 1e6, o.seconds,
      o.seconds > 0 ? r.stored_bytes / 1e6 / o.seconds : 0.0, r.already_cached, r.failed, o.note);
  int status_code = exit_ok;
  if (o.degraded) {
    std::cerr << fmt::format(
        "larder warm: the disk tier failed and degraded to memory only (see the log): the {} are "
        "not cached on disk\n",
        o.items);
    status_code = exit_failure;
  }
  if (o.not_on_disk > 0) {
    std::cerr << fmt::format(
        "larder warm: {} {} are not in the disk tier: {} does not fit disk.size ({:.1f} MB)\n",
        o.not_on_disk, o.items, o.too_large, config.disk.size_bytes / 1e6);
    status_code = exit_failure;
  }
  if (r.failed > 0) {
    std::cerr << fmt::format(
        "larder warm: {} {} could not be read (listed above); the others are cached\n", r.failed,
        o.items);
    status_code = exit_failure;
  }
  return status_code;
}

// Opens the cache a training loop opens on the configuration's cache: block into `cache`;
// returns exit_ok, or the exit code after saying why (a directory in use, unusable settings).
int open_configured_cache(runtime& rt, const cache_config& config,
                          std::unique_ptr<cache_manager>& cache) {
  try {
    cache = rt.run(cache_manager::open(rt.executor(), config));
    return exit_ok;
  } catch (const config_error& e) {
    std::cerr << "larder warm: " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "larder warm: cannot open the cache: " << e.what() << "\n";
    return exit_failure;
  }
}

// The cache key of a model tensor (model_cache.hpp).
std::string tensor_key(const model_handle& model, const std::string& name) {
  return "model/" + model.fingerprint().to_string() + "/" + name;
}

// Reads and stores every tensor of a safetensors file that the disk tier does not hold yet,
// through model_cache (its keys, its reads), `parallel` tensors at a time, each read in one go.
asio::awaitable<warm_report> warm_model(cache_manager& cache, model_cache& models,
                                        const model_handle& model, std::size_t parallel) {
  std::vector<warm_item> to_store;
  std::size_t already_cached = 0;
  for (const auto& t : model.tensors()) {
    if (t.end == t.begin) continue;  // no bytes: model_cache serves it without the cache
    if (cache.disk()->contains(tensor_key(model, t.name))) {
      ++already_cached;
      continue;
    }
    auto store = [&models, &model, name = t.name]() -> asio::awaitable<std::size_t> {
      const tensor_view view = co_await models.tensor(model, name);
      co_return view.bytes.size();
    };
    to_store.push_back({std::move(store), "tensor " + t.name});
  }
  warm_report report = co_await store_all(cache, to_store, parallel);
  report.already_cached = already_cached;
  co_return report;
}

// Warms a safetensors file (model_cache's tensors); exit code as run_warm's.
int run_warm_model(const cache_config& config, const fs::path& path, std::size_t parallel) {
  runtime rt;
  io::ring ring(rt.executor());
  io::ring_file_io source_io(ring);
  std::unique_ptr<cache_manager> cache;
  if (const int opened = open_configured_cache(rt, config, cache); opened != exit_ok) return opened;
  // One read per tensor, with the tensors themselves `parallel` at a time: at most `parallel`
  // reads in flight however the sizes fall.
  model_cache models(*cache, source_io,
                     {.max_read_bytes = std::size_t{1} << 30, .parallel_reads = 1});
  const auto start = std::chrono::steady_clock::now();
  warm_report report;
  std::size_t tensors = 0;
  std::size_t not_on_disk = 0;
  bool degraded = false;
  try {
    const model_handle model = rt.run(models.load(path));
    tensors = model.tensors().size();
    std::uint64_t total = 0;
    for (const auto& t : model.tensors())
      total += t.end - t.begin;
    std::cout << fmt::format(
        "larder warm: model {} ({} tensors, {:.1f} MB) into the cache at {}, keys "
        "model/{}/<tensor>\n",
        path.string(), tensors, total / 1e6, config.disk.path.string(),
        model.fingerprint().to_string());
    report = rt.run(warm_model(*cache, models, model, parallel));
    for (const auto& t : model.tensors())
      if (t.end != t.begin && !cache->disk()->contains(tensor_key(model, t.name))) ++not_on_disk;
    not_on_disk -= std::min(not_on_disk, report.failed);
    degraded = cache->metrics().disk->degraded;
    rt.run(cache->close());
  } catch (const std::exception& e) {
    std::cerr << "larder warm: " << e.what() << "\n";
    return exit_failure;
  }
  return report_outcome(
      {.items = "tensors",
       .source = "the file",
       .total = tensors,
       .report = report,
       .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
       .degraded = degraded,
       .not_on_disk = not_on_disk,
       .too_large = "the model",
       .note = " (tensors without elements need no caching)"},
      config);
}

}  // namespace

int run_warm(const warm_options& options) {
  cache_config config;
  try {
    config = load_config(fs::path(options.config_file));
    set_log_level(config.logging.level);
  } catch (const std::exception& e) {
    std::cerr << "larder warm: " << e.what() << "\n";
    return exit_usage;
  }

  const fs::path source_path = without_trailing_separator(options.source);
  std::error_code error;
  const fs::file_status status = fs::status(source_path, error);
  if (!fs::exists(status)) {
    std::cerr << fmt::format("larder warm: source {}: {}\n", source_path.string(),
                             error ? error.message() : "no such file or directory");
    return exit_usage;
  }
  const bool is_directory = fs::is_directory(status);
  if (is_directory && options.record_bytes) {
    std::cerr << fmt::format(
        "larder warm: source {} is a directory (one sample per file); --record-bytes is for a "
        "file of fixed-size records\n",
        source_path.string());
    return exit_usage;
  }
  if (!is_directory && !fs::is_regular_file(status)) {
    std::cerr << fmt::format("larder warm: source {} is neither a directory nor a regular file\n",
                             source_path.string());
    return exit_usage;
  }
  if (!is_directory && !options.record_bytes) {
    // A file without --record-bytes is a model: its header says whether it is one.
    try {
      model::read_safetensors_header(source_path);
    } catch (const std::exception& e) {
      std::cerr << fmt::format(
          "larder warm: source {} is not a safetensors model file ({}); pass --record-bytes N to "
          "read a file as records of N bytes each\n",
          source_path.string(), e.what());
      return exit_usage;
    }
    return run_warm_model(config, source_path, options.parallel);
  }

  runtime rt;
  io::ring ring(rt.executor());
  io::ring_file_io source_io(ring);
  dataset_source source;
  try {
    source = is_directory ? directory_dataset(source_io, source_path)
                          : record_file_dataset(source_io, source_path, *options.record_bytes);
  } catch (const std::exception& e) {
    std::cerr << "larder warm: source " << source_path.string() << ": " << e.what() << "\n";
    return exit_usage;
  }

  std::unique_ptr<cache_manager> cache;
  if (const int opened = open_configured_cache(rt, config, cache); opened != exit_ok) return opened;
  const std::string fp = dataset_cache::fingerprint(source);
  std::cout << fmt::format(
      "larder warm: {} ({} samples, {:.1f} MB) into the cache at {}, keys ds/{}/<sample>\n",
      source_path.string(), source.size, source.total_bytes_hint / 1e6, config.disk.path.string(),
      fp);

  const auto start = std::chrono::steady_clock::now();
  warm_report report;
  std::size_t not_on_disk = 0;
  bool degraded = false;
  try {
    report = rt.run(warm_samples(*cache, source, options.parallel));
    not_on_disk = samples_not_on_disk(*cache, source) - report.failed;
    degraded = cache->metrics().disk->degraded;
    // The dataset's info entry, for get_dataset(), once every sample is on disk; a second warm
    // that stored nothing leaves the first one's in place rather than superseding it.
    dataset_cache datasets(*cache);
    if (report.failed == 0 && not_on_disk == 0 && !degraded &&
        (report.stored > 0 || !rt.run(datasets.get_dataset(fp)))) {
      rt.run(datasets.record_dataset(source));
    }
    rt.run(cache->close());
  } catch (const std::exception& e) {
    std::cerr << "larder warm: " << e.what() << "\n";
    return exit_failure;
  }
  return report_outcome(
      {.items = "samples",
       .source = "the source",
       .total = source.size,
       .report = report,
       .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
       .degraded = degraded,
       .not_on_disk = not_on_disk,
       .too_large = fmt::format("the dataset ({:.1f} MB)", source.total_bytes_hint / 1e6),
       .note = ""},
      config);
}

void add_warm_command(CLI::App& app, int& exit_status) {
  auto options = std::make_shared<warm_options>();
  CLI::App* warm = app.add_subcommand(
      "warm",
      "Preload a dataset or a model into the disk tier of the configured cache, so that a "
      "training job that then streams the dataset or loads the model through larder finds "
      "every sample or tensor there and reads nothing from the source.\n"
      "The cache is the one cache_manager::open() opens on the configuration's cache: block, in "
      "disk.path, as a training loop that embeds larder and `larder demo` open it (not the "
      "profile caches that `larder serve` opens in disk.path/<profile>). SOURCE is a "
      "directory (directory_dataset: one sample per regular file, in name order) or, with "
      "--record-bytes N, a file of N-byte records (record_file_dataset; the last may be short), or "
      "else a safetensors model file, whose tensors are stored as model_cache stores them "
      "(model/<fingerprint>/<tensor name>; the fingerprint covers the file's size, modification "
      "time, inode and header). "
      "Samples are stored raw, under the keys dataset_cache gives them without a preprocessing "
      "step (ds/<fingerprint>/<index>; the fingerprint covers the source's absolute path, sample "
      "count, size and modification time, so the training job must open the same path, and "
      "changed data is warmed again). Samples already in the disk tier are not read again; the "
      "others are read through io_uring, --parallel at a time, with a progress bar and ETA on "
      "stderr when it is a terminal. A sample that cannot be read is named on stderr and the "
      "others go on. At the end the cache is flushed and closed (durable, with its index "
      "snapshot), and a summary gives the samples, the bytes read, the time and MB/s, and how "
      "many were already cached.\n"
      "Exit codes: 0 every sample is in the disk tier; 1 a sample could not be read (each is "
      "named, the others are cached), the dataset does not fit disk.size, the disk tier failed, "
      "or the cache could not be opened (its directory in use by another process, named) or "
      "closed; 2 bad arguments, a missing or bad configuration, a missing SOURCE, or a SOURCE file "
      "that is neither a safetensors file nor given --record-bytes; 3 unexpected error.\n"
      "Examples:\n"
      "  larder warm --config larder.yaml /data/train\n"
      "  larder warm --config larder.yaml --record-bytes 65536 /data/train.bin\n"
      "  larder warm --config larder.yaml /models/llama.safetensors");
  warm->add_option("-c,--config", options->config_file,
                   "YAML or TOML configuration whose cache: block (disk.path, disk.size) names "
                   "the cache")
      ->required();
  warm->add_option("SOURCE", options->source,
                   "The dataset or model: a directory of sample files, a record file with "
                   "--record-bytes, or a safetensors file")
      ->required();
  warm->add_option("--record-bytes", options->record_bytes,
                   "SOURCE is a file of fixed-size records of this many bytes")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 32));
  warm->add_option("--parallel", options->parallel, "Source reads in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
  warm->callback([options, &exit_status] { exit_status = run_warm(*options); });
}

}  // namespace larder::tools
