// cache_manager's metrics after a scripted workload: every counter the script moves has the
// exact value the script implies, and the Prometheus exposition says the same.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "larder/cache/cache_manager.hpp"
#include "larder/cache/metrics/prometheus_text.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "larder/runtime/when_all.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

std::string key_for(int i) {
  return "sample/" + std::to_string(i);  // every key of the script has 8 bytes
}
std::string value_for(int i) {
  return "value " + std::to_string(i) + std::string(2000, '.');
}

class CacheMetricsTest : public ::testing::Test {
 protected:
  // A memory tier of exactly three entries (one shard, lru), write-through to disk.
  cache_config config() {
    cache_config c;
    c.memory.size_bytes = 3 * memory_tier::charge_for(key_for(1).size(), value_for(1).size());
    c.memory.policy = memory_policy::lru;
    c.eviction_threshold = 1.0;
    c.disk.path = scratch_.path() / "cache";
    c.disk.size_bytes = 16 << 20;
    return c;
  }
  std::unique_ptr<cache_manager> open() {
    return rt_.run(cache_manager::open(rt_.executor(), config(),
                                       {.region_size = 256 << 10, .file_io = &file_io_}));
  }
  void put(cache_manager& cache, int i, put_options options = {}) {
    ASSERT_TRUE(rt_.run(cache.put(key_for(i), blob::copy_of(value_for(i)), options)));
  }
  std::optional<std::string> get(cache_manager& cache, int i) {
    auto v = rt_.run(cache.get(key_for(i)));
    if (!v) return std::nullopt;
    return std::string(v->view());
  }

  testing::scratch_directory scratch_;
  runtime rt_{{.threads = 2}};
  io::ring ring_{rt_.executor()};
  io::ring_file_io file_io_{ring_};
};

TEST_F(CacheMetricsTest, AScriptedWorkloadGivesExactCounts) {
  auto cache = open();
  ASSERT_EQ(cache->memory().shard_count(), 1u);
  put(*cache, 1);
  put(*cache, 2);
  put(*cache, 3);                           // memory (lru first): 1 2 3
  EXPECT_EQ(get(*cache, 1), value_for(1));  // memory hit: 2 3 1
  EXPECT_EQ(get(*cache, 9), std::nullopt);  // miss in memory and on disk
  put(*cache, 4);                           // evicts 2: 3 1 4
  EXPECT_EQ(get(*cache, 2), value_for(2));  // disk hit, promoted, evicts 3: 1 4 2
  // A load, stored in memory (evicting 1: 4 2 7) and on disk.
  const blob loaded = rt_.run(cache->get_or_load(
      key_for(7), []() -> asio::awaitable<blob> { co_return blob::copy_of(value_for(7)); }));
  EXPECT_EQ(loaded.view(), value_for(7));
  EXPECT_TRUE(rt_.run(cache->remove(key_for(4))));  // 2 7
  put(*cache, 5, {.ttl = 1ms});                     // 2 7 5
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(get(*cache, 5), std::nullopt);  // expired in memory and on disk: 2 7
  // Five callers of one key at once: one load, four share it (all five are misses).
  // The key outlives the awaitables, which start only when when_all runs them.
  const std::string shared_key = key_for(8);
  std::vector<asio::awaitable<blob>> callers;
  for (int i = 0; i < 5; ++i) {
    callers.push_back(cache->get_or_load(shared_key, [this]() -> asio::awaitable<blob> {
      asio::steady_timer timer(rt_.executor(), 100ms);
      co_await timer.async_wait(asio::use_awaitable);
      co_return blob::copy_of(value_for(8));
    }));
  }
  for (const blob& b : rt_.run(when_all(std::move(callers))))
    EXPECT_EQ(b.view(), value_for(8));              // memory: 2 7 8
  EXPECT_EQ(cache->memory().evict_down_to(0), 3u);  // a cleanup pass's kind of eviction

  const cache_metrics m = rt_.run(cache->get_metrics());
  EXPECT_EQ(m.lookups, 10u);  // gets of 1, 9, 2, 5; get_or_load of 7; five of 8
  EXPECT_EQ(m.hits, 2u);      // 1 from memory, 2 from disk
  EXPECT_DOUBLE_EQ(m.hit_rate, 0.2);
  EXPECT_EQ(m.memory_usage, 0u);
  EXPECT_EQ(m.eviction_count, 7u);
  EXPECT_EQ(m.memory.hits, 1u);
  EXPECT_EQ(m.memory.misses, 9u);
  EXPECT_EQ(m.memory.insertions, 8u);  // puts of 1 2 3 4 5, promotion of 2, loads of 7 and 8
  EXPECT_EQ(m.memory.replacements, 0u);
  EXPECT_EQ(m.memory.evictions, 3u);
  EXPECT_EQ(m.memory.cleanup_evictions, 3u);
  EXPECT_EQ(m.memory.expirations, 1u);
  EXPECT_EQ(m.memory.aged_out, 0u);
  EXPECT_EQ(m.memory.removals, 1u);
  EXPECT_EQ(m.memory.entries, 0u);
  EXPECT_EQ(m.loads, 2u);
  EXPECT_EQ(m.coalesced_loads, 4u);
  EXPECT_EQ(m.coalesced_disk_reads, 0u);
  ASSERT_TRUE(m.disk);
  EXPECT_EQ(m.disk->insertions, 7u);  // puts of 1 2 3 4 5, loads of 7 and 8
  EXPECT_EQ(m.disk->hits, 1u);
  EXPECT_EQ(m.disk->misses, 4u);  // 9; 7 and 8 before loading; 5 expired
  EXPECT_EQ(m.disk->expired_entries, 1u);
  EXPECT_EQ(m.disk->evicted_entries, 0u);
  EXPECT_EQ(m.disk->checksum_failures, 0u);
  EXPECT_EQ(m.disk->entries, 5u);  // 1 2 3 7 8
  EXPECT_EQ(m.disk->reads, 0u);    // the open region's buffer answered

  const std::string text = prometheus_text(std::vector<named_cache_metrics>{{"training", m}});
  for (const char* line : {
           "larder_lookups_total{cache=\"training\"} 10",
           "larder_hit_ratio{cache=\"training\"} 0.2",
           "larder_hits_total{cache=\"training\",tier=\"memory\"} 1",
           "larder_hits_total{cache=\"training\",tier=\"disk\"} 1",
           "larder_evictions_total{cache=\"training\",tier=\"memory\",reason=\"capacity\"} 3",
           "larder_evictions_total{cache=\"training\",tier=\"memory\",reason=\"cleanup\"} 3",
           "larder_evictions_total{cache=\"training\",tier=\"disk\",reason=\"expired\"} 1",
           "larder_coalesced_requests_total{cache=\"training\",kind=\"load\"} 4",
           "larder_loads_total{cache=\"training\"} 2",
       }) {
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << line << "\n" << text;
  }
  rt_.run(cache->close());
}

TEST_F(CacheMetricsTest, DeviceReadsAndTheirLatencyAreCounted) {
  {
    auto cache = open();
    for (int i = 1; i <= 3; ++i)
      put(*cache, i);
    rt_.run(cache->close());
    const cache_metrics m = cache->metrics();
    ASSERT_TRUE(m.disk);
    EXPECT_GE(m.disk->writes, 1u);
    EXPECT_EQ(m.disk->write_latency.count, m.disk->writes);
    EXPECT_GE(m.disk->sync_latency.count, 1u);
  }
  auto cache = open();  // counters start again; the entries come back from the snapshot
  EXPECT_EQ(get(*cache, 2), value_for(2));
  EXPECT_EQ(get(*cache, 2), value_for(2));  // now from memory
  const cache_metrics m = cache->metrics();
  EXPECT_EQ(m.lookups, 2u);
  EXPECT_EQ(m.hits, 2u);
  ASSERT_TRUE(m.disk);
  EXPECT_EQ(m.disk->reads, 1u);
  EXPECT_GT(m.disk->bytes_read, 0u);  // compressed: fewer bytes than the value
  EXPECT_EQ(m.disk->read_latency.count, 1u);
  EXPECT_GT(m.disk->read_latency.p50, 0ns);
  EXPECT_EQ(m.disk->read_latency.p50, m.disk->read_latency.p999);  // one sample
  EXPECT_GE(m.disk->read_latency.sum, m.disk->read_latency.p50 * 15 / 16);
  rt_.run(cache->close());
}

}  // namespace
}  // namespace larder
