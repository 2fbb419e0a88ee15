// dataset_cache: the seed's DatasetCache: a dataset's samples through a cache_manager.
//
// 1. Keys. Sample i of a dataset is cached under "ds/<fingerprint>/<i>", where the fingerprint
//    (16 hex digits of xxh3) covers the source's identity (dataset_source::id: path, size,
//    modification time) and the preprocessing's version string. Changing either changes every
//    key, so a changed preprocessing or replaced data is never served from the cache.
// 2. Reads. sample() reads through the cache: a memory hit, else a disk read (promoted), else
//    the source's read and the preprocessing, stored; concurrent requests for one sample share
//    one load (cache_manager::get_or_load). A source error throws dataset_error naming the sample
//    and stores nothing.
// 3. cache_dataset() stores every sample (a bounded number of reads at a time) and records the
//    dataset's size under "ds/<fingerprint>/info", so get_dataset(fingerprint) can report later,
//    in this process or the next (the record goes to the disk tier), how much of it is cached.
// 4. Epoch-aware residency. A training loop visits every sample once per epoch in a new random
//    order. When the dataset is larger than the memory tier, LRU then evicts each sample shortly
//    before its next use and the memory hit rate collapses. keep_resident_subset() admits to
//    memory only a stable subset of the dataset's samples (those whose key hashes below a
//    threshold) sized to fit, so the same samples hit in memory every epoch and the others come
//    from disk: the hit rate approaches memory / dataset. It is the memory tier's admission
//    filter, one per cache: the most recent call wins; clear_resident_subset() removes it.
//
// 5. Streams. stream_dataset() yields an epoch's samples in batches, in the epoch's order
//    (epoch_order(seed, epoch)), reading through the cache (note 2) and keeping `prefetch`
//    batches read ahead with the scheduler's prefetcher: the reads of the window run at once,
//    so the disk tier's io_uring sees a queue depth of up to prefetch x batch_size.
//
// Thread safety: every member function may be called concurrently; the cache_manager must
// outlive the dataset_cache, and a source must outlive the operations that read it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <larder/cache/cache_manager.hpp>
#include <larder/cache/dataset_source.hpp>

namespace larder {

struct preprocess_step {
  // Part of every sample's key: give a new one whenever `apply` changes what it produces.
  std::string version;
  // Turns a raw sample into what is cached; empty: the raw bytes are cached.
  std::function<asio::awaitable<blob>(blob raw, std::size_t index)> apply;
};

struct dataset_handle {
  std::string fingerprint;
  std::size_t samples = 0;
  std::size_t cached = 0;  // in memory or on disk
  std::uint64_t bytes_in_memory = 0;
  std::vector<std::size_t> missing;  // indices not cached, in order
  bool complete() const noexcept { return cached == samples; }
};

struct cache_dataset_options {
  std::size_t parallel_reads = 32;
  // Called after each sample is stored, with the count so far (from any thread).
  std::function<void(std::size_t done, std::size_t total)> progress;
};

struct stream_options {
  std::size_t batch_size = 32;
  // Batches read ahead of the consumer; 0: each batch is read when next() asks for it.
  std::size_t prefetch = 4;
  // Bytes of samples read ahead and not yet consumed, at most (at least one batch is always
  // allowed, so a batch larger than this still streams).
  std::uint64_t max_bytes_ahead = 256ull << 20;
  bool shuffle = true;
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
};

struct dataset_batch {
  std::size_t number = 0;            // 0, 1, ... in stream order
  std::vector<std::size_t> indices;  // the samples' indices in the dataset
  std::vector<blob> samples;
};

struct stream_stats {
  std::size_t max_reads_in_flight = 0;  // the most sample reads running at once
  std::chrono::nanoseconds stall{0};    // time next() spent waiting for data
};

// An epoch's batches, in order (design note 5). next() from one consumer at a time. A stream
// that has not reached its end must be stopped with co_await cancel() before its dataset_cache
// is destroyed: reads in flight refer to it.
class dataset_stream {
 public:
  virtual ~dataset_stream() = default;
  // The next batch, or nullopt after the last. Throws dataset_error for a sample that could not
  // be read (naming it); the stream ends there.
  virtual asio::awaitable<std::optional<dataset_batch>> next() = 0;
  virtual asio::awaitable<void> cancel() = 0;
  virtual stream_stats stats() const = 0;
};

class dataset_cache {
 public:
  explicit dataset_cache(cache_manager& cache) : cache_(cache) {}

  static std::string fingerprint(const dataset_source& source, const preprocess_step& step = {});
  static std::string sample_key(std::string_view fingerprint, std::size_t index);
  // The visiting order of an epoch: a permutation of [0, size) determined by (seed, epoch), the
  // identity when shuffle is false.
  static std::vector<std::size_t> epoch_order(std::size_t size, bool shuffle, std::uint64_t seed,
                                              std::uint64_t epoch);

  // Design note 2. REQUIRES: index < source.size.
  asio::awaitable<blob> sample(const dataset_source& source, const preprocess_step& step,
                               std::size_t index);
  // Same, with a fingerprint computed once by the caller.
  asio::awaitable<blob> sample(const dataset_source& source, const preprocess_step& step,
                               const std::string& fingerprint, std::size_t index);

  // Design note 3. Throws the first dataset_error after every read has finished.
  asio::awaitable<dataset_handle> cache_dataset(const dataset_source& source,
                                                const preprocess_step& step = {},
                                                cache_dataset_options options = {});

  // Records the dataset's size under "ds/<fingerprint>/info", as cache_dataset() does once it
  // has stored every sample, so that get_dataset() reports on it: for a caller that stored the
  // samples itself through sample() (larder warm, which goes on past a sample it cannot read).
  asio::awaitable<void> record_dataset(const dataset_source& source,
                                       const preprocess_step& step = {});

  // What is cached of a dataset that cache_dataset() stored; nullopt if it never did.
  asio::awaitable<std::optional<dataset_handle>> get_dataset(const std::string& fingerprint);

  // Design note 5. The stream keeps copies of the source and the step.
  std::unique_ptr<dataset_stream> stream_dataset(const dataset_source& source,
                                                 const preprocess_step& step,
                                                 stream_options options);

  // Design note 4: keeps `fraction` (in (0, 1]) of the dataset's samples eligible for memory.
  void keep_resident_subset(const std::string& fingerprint, double fraction);
  // The share of a dataset of `dataset_bytes` that fits under the memory tier's high-water
  // mark (1 when it all fits).
  double resident_fraction(std::uint64_t dataset_bytes) const;
  void clear_resident_subset();

 private:
  cache_manager& cache_;
};

}  // namespace larder
