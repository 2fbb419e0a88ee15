#include "larder/cache/cache_manager.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "larder/runtime/runtime.hpp"
#include "larder/runtime/when_all.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

class CacheManagerTest : public ::testing::Test {
 protected:
  static memory_tier_options options() {
    memory_tier_options o;
    o.capacity_bytes = 1 << 20;
    return o;
  }

  // A loader that takes a little while, so concurrent callers overlap with it.
  auto slow_loader(std::string value) {
    return [this, value]() -> asio::awaitable<blob> {
      ++loader_calls_;
      asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
      co_await timer.async_wait(asio::use_awaitable);
      co_return blob::copy_of(value);
    };
  }

  runtime rt_{{.threads = 2}};
  cache_manager cache_{rt_.executor(), options()};
  std::atomic<int> loader_calls_{0};
};

TEST_F(CacheManagerTest, PutThenGetRoundTrips) {
  auto value = rt_.run([&]() -> asio::awaitable<std::optional<blob>> {
    EXPECT_TRUE(co_await cache_.put("sample/1", blob::copy_of(std::string_view("pixels"))));
    co_return co_await cache_.get("sample/1");
  }());
  ASSERT_TRUE(value);
  EXPECT_EQ(value->view(), "pixels");
  EXPECT_EQ(cache_.try_get("sample/1")->view(), "pixels");
  EXPECT_TRUE(cache_.contains("sample/1"));
}

TEST_F(CacheManagerTest, MissIsNullopt) {
  EXPECT_FALSE(rt_.run(cache_.get("nothing")));
  EXPECT_FALSE(cache_.try_get("nothing"));
  EXPECT_FALSE(cache_.contains("nothing"));
}

TEST_F(CacheManagerTest, RemoveAndClear) {
  rt_.run([&]() -> asio::awaitable<void> {
    co_await cache_.put("a", blob::copy_of(std::string_view("1")));
    co_await cache_.put("b", blob::copy_of(std::string_view("2")));
    EXPECT_TRUE(co_await cache_.remove("a"));
    EXPECT_FALSE(co_await cache_.remove("a"));
    EXPECT_FALSE(co_await cache_.get("a"));
    EXPECT_TRUE(co_await cache_.get("b"));
    co_await cache_.clear();
    EXPECT_FALSE(co_await cache_.get("b"));
  }());
  EXPECT_EQ(cache_.metrics().memory.entries, 0u);
}

TEST_F(CacheManagerTest, GetOrLoadLoadsOnceThenHits) {
  auto first = rt_.run(cache_.get_or_load("k", slow_loader("loaded")));
  auto second = rt_.run(cache_.get_or_load("k", slow_loader("other")));
  EXPECT_EQ(first.view(), "loaded");
  EXPECT_EQ(second.view(), "loaded");
  EXPECT_EQ(loader_calls_, 1);
  const auto stats = cache_.metrics();
  EXPECT_EQ(stats.loads, 1u);
  EXPECT_EQ(stats.memory.misses, 1u);  // one lookup missed, once
  EXPECT_EQ(stats.memory.hits, 1u);
}

TEST_F(CacheManagerTest, ConcurrentMissesOfOneKeyShareOneLoad) {
  auto values = rt_.run([&]() -> asio::awaitable<std::vector<blob>> {
    std::vector<asio::awaitable<blob>> calls;
    for (int i = 0; i < 10; ++i)
      calls.push_back(cache_.get_or_load("k", slow_loader("once")));
    co_return co_await when_all(std::move(calls));
  }());
  ASSERT_EQ(values.size(), 10u);
  for (const auto& v : values)
    EXPECT_EQ(v.view(), "once");
  EXPECT_EQ(loader_calls_, 1);
  EXPECT_EQ(cache_.metrics().coalesced_loads, 9u);
}

TEST_F(CacheManagerTest, ALoaderExceptionReachesEveryCallerAndStoresNothing) {
  auto failing = [this]() -> asio::awaitable<blob> {
    ++loader_calls_;
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
    co_await timer.async_wait(asio::use_awaitable);
    throw std::runtime_error("source unavailable");
  };
  std::atomic<int> failures{0};
  auto call = [&]() -> asio::awaitable<void> {
    try {
      co_await cache_.get_or_load("k", failing);
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "source unavailable");
      ++failures;
    }
  };
  rt_.run([&]() -> asio::awaitable<void> {
    std::vector<asio::awaitable<void>> calls;
    for (int i = 0; i < 5; ++i)
      calls.push_back(call());
    co_await when_all(std::move(calls));
  }());
  EXPECT_EQ(failures, 5);
  EXPECT_EQ(loader_calls_, 1);
  EXPECT_FALSE(cache_.contains("k"));
  // The next call tries again.
  EXPECT_EQ(rt_.run(cache_.get_or_load("k", slow_loader("recovered"))).view(), "recovered");
}

// Cache-aside race: a put that lands while the loader runs is newer than what the loader read.
TEST_F(CacheManagerTest, APutDuringALoadIsNotOverwrittenByTheLoadedValue) {
  auto loaded = rt_.run([&]() -> asio::awaitable<blob> {
    co_return co_await cache_.get_or_load("k", [&]() -> asio::awaitable<blob> {
      co_await cache_.put("k", blob::copy_of(std::string_view("fresh")));
      co_return blob::copy_of(std::string_view("stale"));
    });
  }());
  EXPECT_EQ(loaded.view(), "stale");  // the caller gets what its loader returned
  EXPECT_EQ(cache_.try_get("k")->view(), "fresh");
}

TEST_F(CacheManagerTest, GetOrLoadHonoursTtl) {
  memory_tier_options o = options();
  auto now = std::chrono::steady_clock::now();
  o.clock = [&now] { return now; };
  cache_manager cache(rt_.executor(), o);
  rt_.run(cache.get_or_load("k", slow_loader("v"), {.ttl = 1s}));
  EXPECT_TRUE(cache.contains("k"));
  now += 2s;
  EXPECT_FALSE(cache.contains("k"));
}

TEST_F(CacheManagerTest, TypedAccessRoundTrips) {
  struct point {
    float x, y;
  };
  auto back = rt_.run([&]() -> asio::awaitable<std::optional<point>> {
    co_await cache_.put_as<point>("p", point{1.5f, -2.0f});
    co_return co_await cache_.get_as<point>("p");
  }());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->x, 1.5f);
  EXPECT_EQ(back->y, -2.0f);
  EXPECT_THROW(rt_.run(cache_.get_as<std::uint32_t>("p")), codec_error);  // 4 bytes, not 8
  EXPECT_FALSE(rt_.run(cache_.get_as<point>("absent")));
}

TEST_F(CacheManagerTest, BuildsFromAConfiguration) {
  cache_config config;
  config.memory.size_bytes = 2'000'000;
  config.memory.policy = memory_policy::fifo;
  config.memory.max_items = 3;
  config.eviction_threshold = 0.5;
  cache_manager cache(rt_.executor(), config);
  EXPECT_EQ(cache.memory().capacity_bytes(), 2'000'000u);
  EXPECT_EQ(cache.memory().high_water_bytes(), 1'000'000u);
  EXPECT_EQ(cache.memory().policy(), memory_policy::fifo);
  rt_.run([&]() -> asio::awaitable<void> {
    for (const char* k : {"a", "b", "c", "d"})
      co_await cache.put(k, blob::copy_of(k));
  }());
  EXPECT_FALSE(cache.contains("a"));  // fifo, max_items 3
  EXPECT_TRUE(cache.contains("d"));
}

}  // namespace
}  // namespace larder

namespace larder {
namespace {

using testing::eventually;

TEST(CacheManagerCleanup, StartedCleanupPurgesExpiredEntriesUntilStopped) {
  runtime rt({.threads = 2});
  memory_tier_options o;
  o.capacity_bytes = 1 << 20;
  cache_manager cache(rt.executor(), o);
  rt.run(cache.put("short", blob::copy_of(std::string_view("v")), {.ttl = 1ms}));
  rt.run(cache.put("long", blob::copy_of(std::string_view("v"))));
  cleanup_settings settings;
  settings.memory_interval = 5ms;
  cache.start(settings);
  EXPECT_THROW(cache.start(settings), std::logic_error);
  // Nobody reads "short": only a cleanup pass can count its expiry.
  EXPECT_TRUE(eventually([&] { return cache.metrics().memory.expirations == 1; }));
  cache.stop();
  rt.run(cache.put("after-stop", blob::copy_of(std::string_view("v")), {.ttl = 1ms}));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(cache.metrics().memory.expirations, 1u);  // no pass after stop()
  EXPECT_EQ(cache.metrics().memory.entries, 2u);
}

TEST(CacheManagerCleanup, AManualPassAppliesThePolicy) {
  runtime rt({.threads = 1});
  memory_tier_options o;
  o.capacity_bytes = 1 << 20;
  o.shards = 1;
  cache_manager cache(rt.executor(), o);
  for (int i = 0; i < 10; ++i)
    rt.run(cache.put("k" + std::to_string(i), blob::copy_of(std::string(1000, 'x'))));
  cleanup_settings settings;
  settings.memory.policy = cleanup_policy::size;
  settings.memory.eviction_threshold = 0.005;  // 5 KB of 1 MiB: past it
  settings.memory.low_water = 0.004;
  const cleanup_report r = rt.run(cache.cleanup(settings));
  EXPECT_FALSE(r.disk);  // memory-only cache
  EXPECT_GT(r.memory.evicted, 0u);
  EXPECT_LE(r.memory.bytes_after, 4194u);
  EXPECT_FALSE(cache.contains("k0"));  // the least recently used went first
  EXPECT_TRUE(cache.contains("k9"));
}

}  // namespace
}  // namespace larder
