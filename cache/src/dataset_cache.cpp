#include "larder/cache/dataset_cache.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <limits>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "key_hash.hpp"
#include "larder/runtime/when_all.hpp"
#include "larder/scheduler/prefetcher.hpp"

namespace larder {
namespace {

std::string info_key(std::string_view fingerprint) {
  return fmt::format("ds/{}/info", fingerprint);
}

// Batches read ahead by the scheduler's prefetcher: its window's reads run at once.
class prefetched_stream final : public dataset_stream {
 public:
  prefetched_stream(cache_manager& cache, std::vector<std::size_t> order,
                    const stream_options& options,
                    std::function<asio::awaitable<blob>(const std::size_t&)> read)
      : cache_(cache),
        prefetcher_(cache.get_executor(), std::move(order),
                    {.batch_size = options.batch_size,
                     .batches_ahead = options.prefetch,
                     .max_bytes_in_flight = options.max_bytes_ahead,
                     .item_bytes_hint = 0},
                    std::move(read), [](const blob& b) { return std::uint64_t{b.size()}; }) {}

  asio::awaitable<std::optional<dataset_batch>> next() override {
    std::optional<prefetcher<std::size_t, blob>::batch> b;
    const auto start = std::chrono::steady_clock::now();
    try {
      b = co_await prefetcher_.next();
    } catch (const prefetch_error& e) {
      // The source's own error (a dataset_error naming the sample) is what the caller expects.
      if (e.cause()) std::rethrow_exception(e.cause());
      throw;
    }
    if (!b) co_return std::nullopt;
    cache_.record_stream_batch(std::chrono::steady_clock::now() - start);
    co_return dataset_batch{b->index, std::move(b->keys), std::move(b->values)};
  }

  asio::awaitable<void> cancel() override { co_await prefetcher_.async_stop(); }

  stream_stats stats() const override {
    const prefetch_stats s = prefetcher_.stats();
    return {.max_reads_in_flight = s.max_fetches_running, .stall = s.consumer_wait_time};
  }

 private:
  cache_manager& cache_;
  prefetcher<std::size_t, blob> prefetcher_;
};

// No read-ahead: each batch is read, all its samples at once, when next() asks for it.
class synchronous_stream final : public dataset_stream {
 public:
  synchronous_stream(cache_manager& cache, std::vector<std::size_t> order, std::size_t batch_size,
                     std::function<asio::awaitable<blob>(const std::size_t&)> read)
      : cache_(cache), order_(std::move(order)), batch_size_(batch_size), read_(std::move(read)) {}

  asio::awaitable<std::optional<dataset_batch>> next() override {
    const std::size_t first = number_ * batch_size_;
    if (first >= order_.size()) co_return std::nullopt;
    const auto start = std::chrono::steady_clock::now();
    dataset_batch batch;
    batch.number = number_++;
    batch.indices.assign(
        order_.begin() + static_cast<std::ptrdiff_t>(first),
        order_.begin() + static_cast<std::ptrdiff_t>(std::min(order_.size(), first + batch_size_)));
    std::vector<asio::awaitable<blob>> reads;
    for (std::size_t i : batch.indices)
      reads.push_back(read_(i));
    max_in_flight_ = std::max(max_in_flight_, reads.size());
    batch.samples = co_await when_all(std::move(reads));
    const auto waited = std::chrono::steady_clock::now() - start;
    stall_ += waited;
    cache_.record_stream_batch(waited);
    co_return batch;
  }

  asio::awaitable<void> cancel() override {
    number_ = (order_.size() + batch_size_ - 1) / batch_size_;
    co_return;
  }

  stream_stats stats() const override {
    return {.max_reads_in_flight = max_in_flight_, .stall = stall_};
  }

 private:
  cache_manager& cache_;
  std::vector<std::size_t> order_;
  std::size_t batch_size_;
  std::function<asio::awaitable<blob>(const std::size_t&)> read_;
  std::size_t number_ = 0;
  std::size_t max_in_flight_ = 0;
  std::chrono::nanoseconds stall_{0};
};

}  // namespace

std::string dataset_cache::fingerprint(const dataset_source& source, const preprocess_step& step) {
  const std::string identity = source.id + '\0' + step.version;
  return fmt::format("{:016x}", hash_key(identity));
}

std::string dataset_cache::sample_key(std::string_view fingerprint, std::size_t index) {
  return fmt::format("ds/{}/{}", fingerprint, index);
}

std::vector<std::size_t> dataset_cache::epoch_order(std::size_t size, bool shuffle,
                                                    std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::size_t> order(size);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (shuffle) {
    // A documented engine and our own Fisher-Yates, so that an order is the same everywhere
    // (std::shuffle's algorithm is left to the library).
    std::mt19937_64 rng(seed ^ (epoch * 0x9e3779b97f4a7c15ull));
    for (std::size_t i = size; i > 1; --i) {
      std::swap(order[i - 1], order[rng() % i]);
    }
  }
  return order;
}

asio::awaitable<blob> dataset_cache::sample(const dataset_source& source,
                                            const preprocess_step& step, std::size_t index) {
  co_return co_await sample(source, step, fingerprint(source, step), index);
}

asio::awaitable<blob> dataset_cache::sample(const dataset_source& source,
                                            const preprocess_step& step,
                                            const std::string& fingerprint, std::size_t index) {
  const std::string key = sample_key(fingerprint, index);
  co_return co_await cache_.get_or_load(key, [&source, &step, index]() -> asio::awaitable<blob> {
    blob raw = co_await source.read(index);
    if (!step.apply) co_return raw;
    co_return co_await step.apply(std::move(raw), index);
  });
}

asio::awaitable<dataset_handle> dataset_cache::cache_dataset(const dataset_source& source,
                                                             const preprocess_step& step,
                                                             cache_dataset_options options) {
  const std::string fp = fingerprint(source, step);
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::exception_ptr first_error;
  std::mutex error_mu;
  auto worker = [&]() -> asio::awaitable<void> {
    for (std::size_t i = next++; i < source.size; i = next++) {
      try {
        co_await sample(source, step, fp, i);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!first_error) first_error = std::current_exception();
        next = source.size;  // stop handing out work
      }
      const std::size_t n = ++done;
      if (options.progress) options.progress(n, source.size);
    }
  };
  std::vector<asio::awaitable<void>> workers;
  const std::size_t count =
      std::clamp<std::size_t>(options.parallel_reads, 1, std::max<std::size_t>(source.size, 1));
  for (std::size_t i = 0; i < count; ++i)
    workers.push_back(worker());
  co_await when_all(std::move(workers));
  if (first_error) std::rethrow_exception(first_error);
  co_await record_dataset(source, step);
  auto handle = co_await get_dataset(fp);
  co_return std::move(*handle);
}

asio::awaitable<void> dataset_cache::record_dataset(const dataset_source& source,
                                                    const preprocess_step& step) {
  co_await cache_.put(info_key(fingerprint(source, step)),
                      blob::copy_of(std::to_string(source.size)));
}

asio::awaitable<std::optional<dataset_handle>> dataset_cache::get_dataset(
    const std::string& fingerprint) {
  auto info = co_await cache_.get(info_key(fingerprint));
  if (!info) co_return std::nullopt;
  std::size_t samples = 0;
  const std::string_view text = info->view();
  if (std::from_chars(text.data(), text.data() + text.size(), samples).ec != std::errc()) {
    co_return std::nullopt;  // not a record of ours
  }
  dataset_handle h;
  h.fingerprint = fingerprint;
  h.samples = samples;
  disk_tier* disk = cache_.disk();
  for (std::size_t i = 0; i < samples; ++i) {
    const std::string key = sample_key(fingerprint, i);
    if (auto v = cache_.memory().peek(key)) {
      ++h.cached;
      h.bytes_in_memory += v->size();
    } else if (disk != nullptr && disk->contains(key)) {
      ++h.cached;
    } else {
      h.missing.push_back(i);
    }
  }
  co_return h;
}

std::unique_ptr<dataset_stream> dataset_cache::stream_dataset(const dataset_source& source,
                                                              const preprocess_step& step,
                                                              stream_options options) {
  if (options.batch_size == 0)
    throw std::invalid_argument("stream_dataset: batch_size must be > 0");
  auto order = epoch_order(source.size, options.shuffle, options.seed, options.epoch);
  // Copies of the source and the step live in the read function, which outlives every read:
  // a caller may pass temporaries.
  auto read = [this, source, step, fp = fingerprint(source, step)](const std::size_t& i) {
    return sample(source, step, fp, i);
  };
  if (options.prefetch == 0) {
    return std::make_unique<synchronous_stream>(cache_, std::move(order), options.batch_size,
                                                std::move(read));
  }
  return std::make_unique<prefetched_stream>(cache_, std::move(order), options, std::move(read));
}

void dataset_cache::keep_resident_subset(const std::string& fingerprint, double fraction) {
  if (!(fraction > 0.0)) fraction = 0.0;
  if (fraction >= 1.0) {
    clear_resident_subset();
    return;
  }
  const auto threshold = static_cast<std::uint64_t>(
      fraction * static_cast<double>(std::numeric_limits<std::uint64_t>::max()));
  const std::string prefix = fmt::format("ds/{}/", fingerprint);
  const std::string info = info_key(fingerprint);
  cache_.memory().set_admission_filter([prefix, info, threshold](std::string_view key) {
    if (!key.starts_with(prefix) || key == info) return true;
    // Re-mixed: the memory tier's shard choice uses this hash's top bits too.
    return hash_key(key) * 0x9e3779b97f4a7c15ull < threshold;
  });
}

double dataset_cache::resident_fraction(std::uint64_t dataset_bytes) const {
  if (dataset_bytes == 0) return 1.0;
  return std::min(1.0, static_cast<double>(cache_.memory().high_water_bytes()) /
                           static_cast<double>(dataset_bytes));
}

void dataset_cache::clear_resident_subset() {
  cache_.memory().set_admission_filter({});
}

}  // namespace larder
