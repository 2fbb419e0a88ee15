// cache_manager with a disk tier: memory -> disk -> loader, promotion, write modes, persistence
// across reopen, and a failing disk.
#include <atomic>
#include <future>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "scratch_directory.hpp"
#include "larder/cache/cache_manager.hpp"
#include "larder/io/fault_injecting_file_io.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "larder/runtime/when_all.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

std::string value_for(int i) {
  return "value " + std::to_string(i) + std::string(2000, '.');
}
std::string key_for(int i) {
  return "sample/" + std::to_string(i);
}

class TieredCacheTest : public ::testing::Test {
 protected:
  cache_config config(std::uint64_t memory_bytes = 8 << 20) {
    cache_config c;
    c.memory.size_bytes = memory_bytes;
    c.eviction_threshold = 1.0;
    c.disk.path = scratch_.path() / "cache";
    c.disk.size_bytes = 16 << 20;
    return c;
  }

  std::unique_ptr<cache_manager> open(const cache_config& c, tiering_options t = {}) {
    t.region_size = 256 << 10;
    if (t.file_io == nullptr) t.file_io = &file_io_;
    return rt_.run(cache_manager::open(rt_.executor(), c, t));
  }

  void put(cache_manager& cache, int i) {
    ASSERT_TRUE(rt_.run(cache.put(key_for(i), blob::copy_of(value_for(i)))));
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

TEST_F(TieredCacheTest, AMemoryMissIsServedFromDiskAndPromoted) {
  auto cache = open(config());
  put(*cache, 1);
  cache->memory().erase(key_for(1));
  EXPECT_FALSE(cache->contains(key_for(1)));
  EXPECT_EQ(get(*cache, 1), value_for(1));
  EXPECT_TRUE(cache->contains(key_for(1)));  // promoted
  auto s = cache->metrics();
  ASSERT_TRUE(s.disk);
  EXPECT_EQ(s.disk->hits, 1u);
  EXPECT_EQ(get(*cache, 1), value_for(1));
  EXPECT_EQ(cache->metrics().disk->hits, 1u);  // the second read hit memory
}

TEST_F(TieredCacheTest, EntriesSurviveCloseAndReopen) {
  {
    auto cache = open(config());
    for (int i = 0; i < 100; ++i)
      put(*cache, i);
    rt_.run(cache->close());
  }
  auto cache = open(config());
  EXPECT_FALSE(cache->contains(key_for(5)));  // memory starts empty
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(get(*cache, i), value_for(i)) << i;
}

TEST_F(TieredCacheTest, WriteOnEvictKeepsWhatMemoryCannot) {
  auto cache = open(config(64 << 10), {.mode = write_mode::write_on_evict});
  for (int i = 0; i < 200; ++i)
    put(*cache, i);  // 400 KB through a 64 KB memory tier
  const auto s = cache->metrics();
  EXPECT_GT(s.memory.evictions, 100u);
  EXPECT_EQ(s.disk->insertions, s.memory.evictions);
  int loads = 0;
  for (int i = 0; i < 200; ++i) {
    blob v = rt_.run(cache->get_or_load(key_for(i), [&]() -> asio::awaitable<blob> {
      ++loads;
      co_return blob::copy_of(std::string_view("reloaded"));
    }));
    EXPECT_EQ(v.view(), value_for(i)) << i;
  }
  EXPECT_EQ(loads, 0);
}

TEST_F(TieredCacheTest, ConcurrentMissesShareOneDiskReadAndNoLoad) {
  auto cache = open(config());
  put(*cache, 7);
  cache->memory().erase(key_for(7));
  int loads = 0;
  auto loader = [&]() -> asio::awaitable<blob> {
    ++loads;
    co_return blob();
  };
  const std::string key = key_for(7);  // outlives the awaitables, as the API requires
  auto values = rt_.run([&]() -> asio::awaitable<std::vector<blob>> {
    std::vector<asio::awaitable<blob>> calls;
    for (int i = 0; i < 8; ++i)
      calls.push_back(cache->get_or_load(key, loader));
    co_return co_await when_all(std::move(calls));
  }());
  for (const auto& v : values)
    EXPECT_EQ(v.view(), value_for(7));
  EXPECT_EQ(loads, 0);
  EXPECT_EQ(cache->metrics().disk->hits, 1u);
}

// Many coroutines on two threads: puts, gets, removes and loads on overlapping keys through a
// memory tier too small to hold them, so entries move between the tiers all the time. Every value
// read must be one that was stored under its key.
TEST_F(TieredCacheTest, ConcurrentTrafficAcrossBothTiersNeverMixesValues) {
  for (write_mode mode : {write_mode::write_through, write_mode::write_on_evict}) {
    auto cache = open(config(48 << 10), {.mode = mode});
    std::atomic<int> wrong{0};
    auto worker = [&](int id) -> asio::awaitable<void> {
      std::mt19937 rng(static_cast<unsigned>(id));
      for (int op = 0; op < 400; ++op) {
        const int k = static_cast<int>(rng() % 64);
        const std::string key = key_for(k);
        switch (rng() % 4) {
          case 0:
            co_await cache->put(key, blob::copy_of(value_for(k)));
            break;
          case 1:
            if (auto v = co_await cache->get(key); v && v->view() != value_for(k)) ++wrong;
            break;
          case 2: {
            blob v = co_await cache->get_or_load(key, [k]() -> asio::awaitable<blob> {
              co_return blob::copy_of(value_for(k));
            });
            if (v.view() != value_for(k)) ++wrong;
            break;
          }
          case 3:
            co_await cache->remove(key);
            break;
        }
      }
    };
    // Spawned on the io_context itself, not a strand: the workers run on both threads at once.
    std::vector<std::future<void>> done;
    for (int i = 0; i < 8; ++i) {
      done.push_back(asio::co_spawn(rt_.executor(), worker(i), asio::use_future));
    }
    for (auto& d : done) d.get();
    EXPECT_EQ(wrong, 0);
    rt_.run(cache->close());
  }
}

TEST_F(TieredCacheTest, RemoveReachesTheDisk) {
  auto cache = open(config());
  put(*cache, 3);
  EXPECT_TRUE(rt_.run(cache->remove(key_for(3))));
  EXPECT_FALSE(get(*cache, 3));
}

TEST_F(TieredCacheTest, AFailingDiskDegradesToMemoryAndFlushReportsIt) {
  io::fault_injecting_file_io faulty(file_io_);
  faulty.inject_when(
      [](const auto& op) { return op.kind == io::fault_injecting_file_io::op_kind::write; },
      io::fault_injecting_file_io::fault::fail(std::errc::io_error));
  auto cache = open(config(), {.file_io = &faulty});
  for (int i = 0; i < 200; ++i)
    put(*cache, i);  // regions fill and fail to write
  try {
    rt_.run(cache->flush());
    FAIL() << "flush must report the failing disk";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::make_error_code(std::errc::io_error));
  }
  EXPECT_TRUE(cache->metrics().disk->degraded);
  EXPECT_EQ(get(*cache, 199), value_for(199));  // memory still serves
  put(*cache, 500);                             // and still takes puts
  EXPECT_EQ(get(*cache, 500), value_for(500));
}

}  // namespace
}  // namespace larder
