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

namespace larder {
namespace {

std::string info_key(std::string_view fingerprint) {
  return fmt::format("ds/{}/info", fingerprint);
}

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
  co_await cache_.put(info_key(fp), blob::copy_of(std::to_string(source.size)));
  auto handle = co_await get_dataset(fp);
  co_return std::move(*handle);
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
