// DatasetCache on a real tiered cache (memory + disk tier through io_uring): keys and
// fingerprints, read-through, sources on real files, completeness, epoch-aware residency.
#include "larder/cache/dataset_cache.hpp"

#include <atomic>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

std::string sample_text(std::size_t i, std::size_t size = 100) {
  std::string s = fmt::format("sample {}:", i);
  s.resize(size, static_cast<char>('a' + i % 26));
  return s;
}

class DatasetCacheTest : public ::testing::Test {
 protected:
  cache_config config(std::uint64_t memory_bytes = 8 << 20) {
    cache_config c;
    c.memory.size_bytes = memory_bytes;
    c.eviction_threshold = 1.0;
    c.memory.compression = false;
    c.disk.path = scratch_.path() / "cache";
    c.disk.size_bytes = 64 << 20;
    return c;
  }
  std::unique_ptr<cache_manager> open(const cache_config& c) {
    return rt_.run(cache_manager::open(rt_.executor(), c, {.region_size = 1 << 20}));
  }
  // A generated dataset whose reads are counted.
  dataset_source counted(std::size_t size, std::size_t sample_bytes = 100) {
    return callback_dataset("generated", size,
                            [this, sample_bytes](std::size_t i) -> asio::awaitable<blob> {
                              ++reads_;
                              co_return blob::copy_of(sample_text(i, sample_bytes));
                            });
  }

  testing::scratch_directory scratch_;
  runtime rt_{{.threads = 2}};
  io::ring ring_{rt_.executor()};
  io::ring_file_io file_io_{ring_};
  std::atomic<int> reads_{0};
};

TEST_F(DatasetCacheTest, TheFingerprintCoversTheSourceAndThePreprocessingVersion) {
  const auto a = callback_dataset("a", 10, {});
  const auto b = callback_dataset("b", 10, {});
  EXPECT_EQ(dataset_cache::fingerprint(a), dataset_cache::fingerprint(a));
  EXPECT_NE(dataset_cache::fingerprint(a), dataset_cache::fingerprint(b));
  EXPECT_NE(dataset_cache::fingerprint(a, {.version = "resize-224", .apply = {}}),
            dataset_cache::fingerprint(a, {.version = "resize-256", .apply = {}}));
  EXPECT_EQ(dataset_cache::fingerprint(a).size(), 16u);
  EXPECT_EQ(dataset_cache::sample_key("00ff", 7), "ds/00ff/7");
}

TEST_F(DatasetCacheTest, EpochOrdersArePermutationsFixedBySeedAndEpoch) {
  const auto e1 = dataset_cache::epoch_order(1000, true, 42, 1);
  EXPECT_EQ(e1, dataset_cache::epoch_order(1000, true, 42, 1));
  EXPECT_NE(e1, dataset_cache::epoch_order(1000, true, 42, 2));
  EXPECT_NE(e1, dataset_cache::epoch_order(1000, true, 43, 1));
  EXPECT_EQ(std::set<std::size_t>(e1.begin(), e1.end()).size(), 1000u);
  std::vector<std::size_t> identity(5);
  std::iota(identity.begin(), identity.end(), std::size_t{0});
  EXPECT_EQ(dataset_cache::epoch_order(5, false, 42, 3), identity);
}

TEST_F(DatasetCacheTest, SamplesReadThroughTheCacheOnceAndANewPreprocessingReloads) {
  auto cache = open(config());
  dataset_cache datasets(*cache);
  const auto source = counted(10);
  const preprocess_step upper{"upper-v1", [](blob raw, std::size_t) -> asio::awaitable<blob> {
                                std::string s(raw.view());
                                for (char& c : s)
                                  c = static_cast<char>(std::toupper(c));
                                co_return blob::copy_of(s);
                              }};
  auto first = rt_.run(datasets.sample(source, upper, 3));
  auto again = rt_.run(datasets.sample(source, upper, 3));
  EXPECT_EQ(reads_, 1);
  EXPECT_EQ(again.view(), first.view());
  EXPECT_EQ(first.view().substr(0, 8), "SAMPLE 3");
  const preprocess_step raw{"raw", {}};
  EXPECT_EQ(rt_.run(datasets.sample(source, raw, 3)).view(), sample_text(3));
  EXPECT_EQ(reads_, 2);  // a different version is a different key
}

TEST_F(DatasetCacheTest, ASourceErrorNamesTheSampleAndStoresNothing) {
  auto cache = open(config());
  dataset_cache datasets(*cache);
  const auto failing = callback_dataset("failing", 10, [](std::size_t i) -> asio::awaitable<blob> {
    if (i == 4) throw dataset_error("dataset failing sample 4: device unplugged", i);
    co_return blob::copy_of(sample_text(i));
  });
  try {
    rt_.run(datasets.sample(failing, {}, 4));
    ADD_FAILURE() << "no error";
  } catch (const dataset_error& e) {
    EXPECT_EQ(e.index(), 4u);
    EXPECT_NE(std::string(e.what()).find("sample 4"), std::string::npos);
  }
  EXPECT_FALSE(cache->contains(dataset_cache::sample_key(dataset_cache::fingerprint(failing), 4)));
  EXPECT_THROW(rt_.run(datasets.cache_dataset(failing)), dataset_error);
}

TEST_F(DatasetCacheTest, ADirectoryOfFilesIsReadExactlyThroughIoUring) {
  const auto dir = scratch_.path() / "samples";
  std::filesystem::create_directories(dir);
  for (std::size_t i = 0; i < 20; ++i)
    std::ofstream(dir / fmt::format("{:04}.bin", i)) << sample_text(i, 1000 + 397 * i);
  const auto source = directory_dataset(file_io_, dir);
  EXPECT_EQ(source.size, 20u);
  EXPECT_EQ(source.sample_name(7), "0007.bin");
  for (std::size_t i = 0; i < 20; ++i)
    EXPECT_EQ(rt_.run(source.read(i)).view(), sample_text(i, 1000 + 397 * i)) << i;
  // Changed data is a different dataset.
  const auto before = dataset_cache::fingerprint(source);
  std::ofstream(dir / "0020.bin") << "new";
  EXPECT_NE(dataset_cache::fingerprint(directory_dataset(file_io_, dir)), before);
  std::filesystem::remove(dir / "0003.bin");
  EXPECT_THROW(rt_.run(source.read(3)), dataset_error);
}

TEST_F(DatasetCacheTest, FixedSizeRecordsComeFromOneLargeFileAndTheLastMayBeShort) {
  const auto file = scratch_.path() / "records.bin";
  std::string all;
  for (std::size_t i = 0; i < 50; ++i)
    all += sample_text(i, 5000);
  all += "tail";
  std::ofstream(file, std::ios::binary) << all;
  const auto source = record_file_dataset(file_io_, file, 5000);
  ASSERT_EQ(source.size, 51u);
  for (std::size_t i : {0u, 1u, 17u, 49u})
    EXPECT_EQ(rt_.run(source.read(i)).view(), sample_text(i, 5000)) << i;
  EXPECT_EQ(rt_.run(source.read(50)).view(), "tail");
  EXPECT_THROW(rt_.run(source.read(51)), dataset_error);
}

TEST_F(DatasetCacheTest, CacheDatasetStoresEverySampleAndGetDatasetReportsWhatIsMissing) {
  const auto source = counted(200);
  std::string fp;
  {
    auto cache = open(config());
    dataset_cache datasets(*cache);
    std::atomic<std::size_t> progress{0};
    const auto h = rt_.run(datasets.cache_dataset(
        source, {},
        {.parallel_reads = 8, .progress = [&](std::size_t n, std::size_t) { progress = n; }}));
    EXPECT_EQ(reads_, 200);
    EXPECT_EQ(progress, 200u);
    EXPECT_TRUE(h.complete());
    EXPECT_EQ(h.samples, 200u);
    fp = h.fingerprint;
    EXPECT_FALSE(rt_.run(datasets.get_dataset("0000000000000000")));
    rt_.run(cache->remove(dataset_cache::sample_key(fp, 5)));
    rt_.run(cache->remove(dataset_cache::sample_key(fp, 150)));
    const auto partial = rt_.run(datasets.get_dataset(fp));
    ASSERT_TRUE(partial);
    EXPECT_EQ(partial->cached, 198u);
    EXPECT_EQ(partial->missing, (std::vector<std::size_t>{5, 150}));
    rt_.run(cache->close());
  }
  // The next process finds the dataset on disk, and a partly cached dataset still serves.
  auto cache = open(config());
  dataset_cache datasets(*cache);
  const auto h = rt_.run(datasets.get_dataset(fp));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->cached, 198u);
  EXPECT_EQ(h->bytes_in_memory, 0u);  // nothing promoted yet
  EXPECT_EQ(rt_.run(datasets.sample(source, {}, 5)).view(), sample_text(5));
  EXPECT_EQ(rt_.run(datasets.sample(source, {}, 6)).view(), sample_text(6));
  EXPECT_EQ(reads_, 201);  // only the missing sample came from the source
}

// A caller that stores the samples one by one records the dataset as cache_dataset() would.
TEST_F(DatasetCacheTest, RecordDatasetMakesSamplesStoredOneByOneADatasetGetDatasetKnows) {
  const auto source = counted(10);
  const std::string fp = dataset_cache::fingerprint(source);
  auto cache = open(config());
  dataset_cache datasets(*cache);
  for (std::size_t i = 0; i < 9; ++i)
    rt_.run(datasets.sample(source, {}, i));
  EXPECT_FALSE(rt_.run(datasets.get_dataset(fp)));
  rt_.run(datasets.record_dataset(source));
  const auto h = rt_.run(datasets.get_dataset(fp));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->samples, 10u);
  EXPECT_EQ(h->cached, 9u);
  EXPECT_EQ(h->missing, (std::vector<std::size_t>{9}));
  EXPECT_EQ(reads_, 9);
}

// Streams: the epoch's order, in batches, read ahead concurrently, through both tiers.
TEST_F(DatasetCacheTest, AStreamYieldsTheEpochOrderInBatchesWithReadsInFlightTogether) {
  auto cache = open(config(256 << 10));  // far smaller than the dataset: both tiers at work
  dataset_cache datasets(*cache);
  const auto source = counted(300, 4096);
  std::uint64_t streamed_batches = 0;
  std::chrono::nanoseconds stall_floor{0};
  for (std::uint64_t epoch : {1u, 2u}) {
    for (std::size_t prefetch : {0u, 1u, 4u}) {
      const auto order = dataset_cache::epoch_order(300, true, 11, epoch);
      auto stream = datasets.stream_dataset(
          source, {},
          {.batch_size = 32, .prefetch = prefetch, .shuffle = true, .seed = 11, .epoch = epoch});
      std::vector<std::size_t> seen;
      std::size_t batches = 0;
      while (auto batch = rt_.run(stream->next())) {
        EXPECT_EQ(batch->number, batches++);
        EXPECT_EQ(batch->samples.size(), batch->indices.size());
        EXPECT_EQ(batch->samples.size(), batches == 10 ? 12u : 32u);  // 300 = 9 x 32 + 12
        for (std::size_t i = 0; i < batch->samples.size(); ++i) {
          ASSERT_EQ(batch->samples[i].view(), sample_text(batch->indices[i], 4096));
          seen.push_back(batch->indices[i]);
        }
      }
      EXPECT_EQ(seen, order) << "epoch " << epoch << " prefetch " << prefetch;
      // The cache's metrics count the stream's batches and the time its consumer waited.
      streamed_batches += batches;
      EXPECT_EQ(cache->metrics().stream_batches, streamed_batches);
      stall_floor += stream->stats().stall;
      // Prefetch 1 reads the next batch while the consumer works: one batch in flight at most.
      // More reads several batches at once.
      if (prefetch <= 1) {
        EXPECT_LE(stream->stats().max_reads_in_flight, 32u) << prefetch;
      } else {
        EXPECT_GT(stream->stats().max_reads_in_flight, 32u) << prefetch;
      }
    }
  }
  EXPECT_EQ(reads_, 300);  // the source was read once; everything else came from the tiers
  EXPECT_GT(cache->metrics().disk->hits, 0u);
  // The cache times each next() whole; the prefetcher only its suspensions.
  EXPECT_GE(cache->metrics().stream_stall, stall_floor);
  EXPECT_GT(cache->metrics().stream_stall, std::chrono::nanoseconds::zero());
}

TEST_F(DatasetCacheTest, AStreamSurfacesASourceErrorWithItsSampleAndCanBeCancelled) {
  auto cache = open(config());
  dataset_cache datasets(*cache);
  const auto failing = callback_dataset("failing", 100, [](std::size_t i) -> asio::awaitable<blob> {
    if (i == 57) throw dataset_error("sample 57 is unreadable", i);
    co_return blob::copy_of(sample_text(i));
  });
  auto stream =
      datasets.stream_dataset(failing, {}, {.batch_size = 10, .prefetch = 3, .shuffle = false});
  std::size_t delivered = 0;
  try {
    while (auto batch = rt_.run(stream->next()))
      delivered += batch->samples.size();
    ADD_FAILURE() << "no error";
  } catch (const dataset_error& e) {
    EXPECT_EQ(e.index(), 57u);
  }
  EXPECT_EQ(delivered, 50u);  // the batches before the failing one arrived
  rt_.run(stream->cancel());

  // Cancelled mid-epoch with reads in flight: nothing leaks, nothing hangs.
  auto slow = callback_dataset("slow", 1000, [](std::size_t i) -> asio::awaitable<blob> {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(2));
    co_await t.async_wait(asio::use_awaitable);
    co_return blob::copy_of(sample_text(i));
  });
  auto partial =
      datasets.stream_dataset(slow, {}, {.batch_size = 16, .prefetch = 4, .shuffle = true});
  ASSERT_TRUE(rt_.run(partial->next()));
  rt_.run(partial->cancel());
}

// A dataset twice the memory tier, visited in a new random order each epoch: plain LRU against a
// stable resident subset. The second epoch's memory hit rate should approach memory/dataset
// with the subset.
double second_epoch_hit_rate(runtime& rt, cache_manager& cache, const dataset_source& source,
                             bool resident_subset) {
  dataset_cache datasets(cache);
  const std::string fp = dataset_cache::fingerprint(source);
  if (resident_subset) {
    const std::uint64_t bytes = source.size * memory_tier::charge_for(12, 4096);
    datasets.keep_resident_subset(fp, datasets.resident_fraction(bytes));
  }
  for (std::uint64_t epoch : {1u, 2u}) {
    const auto before = cache.metrics().memory.hits;
    for (std::size_t i : dataset_cache::epoch_order(source.size, true, 7, epoch))
      rt.run(datasets.sample(source, {}, fp, i));
    if (epoch == 2) {
      return static_cast<double>(cache.metrics().memory.hits - before) /
             static_cast<double>(source.size);
    }
  }
  return 0;
}

TEST_F(DatasetCacheTest, AStableResidentSubsetBeatsLruWhenTheDatasetIsTwiceMemory) {
  const std::size_t samples = 512;
  const std::uint64_t memory = samples / 2 * memory_tier::charge_for(12, 4096);
  double lru = 0;
  double subset = 0;
  {
    auto c = config(memory);
    c.disk.path = scratch_.path() / "lru";
    auto cache = open(c);
    lru = second_epoch_hit_rate(rt_, *cache, counted(samples, 4096), false);
  }
  {
    auto c = config(memory);
    c.disk.path = scratch_.path() / "subset";
    auto cache = open(c);
    subset = second_epoch_hit_rate(rt_, *cache, counted(samples, 4096), true);
  }
  std::printf(
      "second-epoch memory hit rate, dataset = 2 x memory: LRU %.3f, resident subset %.3f\n", lru,
      subset);
  EXPECT_GT(subset, 0.4);  // memory / dataset = 0.5
  EXPECT_GT(subset, lru + 0.1);
}

}  // namespace
}  // namespace larder
