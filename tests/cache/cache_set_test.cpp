#include "larder/cache/cache_set.hpp"

#include <atomic>
#include <chrono>
#include <fstream>
#include <span>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "larder/runtime/runtime.hpp"
#include "larder/scheduler/scheduler.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class CacheSetTest : public ::testing::Test {
 protected:
  CacheSetTest() {
    config_.disk.path = scratch_.path() / "cache";
    config_.disk.size_bytes = 300ull << 20;
    config_.model_cache.size_bytes = 4 << 20;
    config_.training_cache.size_bytes = 2 << 20;
    config_.system_cache.size_bytes = 1 << 20;
    config_.system_cache.temp_dir = scratch_.path() / "temp";
    config_.system_cache.max_age = 3600s;
  }
  std::unique_ptr<cache_set> open() { return rt_.run(cache_set::open(rt_.executor(), config_)); }

  testing::scratch_directory scratch_;
  cache_config config_;
  runtime rt_{{.threads = 2}};
};

TEST_F(CacheSetTest, OpensThreeIndependentCachesWithTheirProfiles) {
  config_.training_cache.eviction = memory_policy::wtinylfu;
  config_.disk.reinsertion = false;
  auto set = open();
  EXPECT_EQ(set->model().memory().capacity_bytes(), 4u << 20);
  EXPECT_EQ(set->training().memory().capacity_bytes(), 2u << 20);
  EXPECT_EQ(set->system().memory().capacity_bytes(), 1u << 20);
  // Each profile's memory order is its `eviction` setting, whatever its cleanup policy.
  EXPECT_EQ(set->model().memory().policy(), config_.model_cache.eviction);
  EXPECT_EQ(set->training().memory().policy(), memory_policy::wtinylfu);
  EXPECT_EQ(set->system().memory().policy(), config_.system_cache.eviction);
  ASSERT_NE(set->model().disk(), nullptr);
  ASSERT_NE(set->training().disk(), nullptr);
  EXPECT_EQ(set->system().disk(), nullptr);
  // The disk is shared in proportion to the profiles' sizes: 2/3 and 1/3 of 300 MiB.
  EXPECT_EQ(set->model().disk()->stats().capacity_bytes, 200u << 20);
  EXPECT_FALSE(set->model().disk()->options().reinsertion);
  EXPECT_FALSE(set->training().disk()->options().reinsertion);
  EXPECT_EQ(set->training().disk()->stats().capacity_bytes, 100u << 20);
  EXPECT_TRUE(fs::is_directory(config_.disk.path / "model_cache"));
  EXPECT_TRUE(fs::is_directory(config_.disk.path / "training_cache"));

  // A key in one cache is not in the others.
  rt_.run(set->model().put("w", blob::copy_of(std::string_view("weights"))));
  EXPECT_TRUE(rt_.run(set->model().get("w")));
  EXPECT_FALSE(rt_.run(set->training().get("w")));
  EXPECT_FALSE(rt_.run(set->system().get("w")));
  ASSERT_EQ(set->members().size(), 3u);
  EXPECT_EQ(set->members()[2].cleanup.memory.policy, cleanup_policy::time);
  EXPECT_EQ(set->members()[2].cleanup.memory.max_age, 3600s);
  rt_.run(set->close());
}

TEST_F(CacheSetTest, ContentsSurviveCloseAndReopen) {
  {
    auto set = open();
    rt_.run(set->training().put("sample/1", blob::copy_of(std::string_view("pixels"))));
    rt_.run(set->close());
  }
  auto set = open();
  auto v = rt_.run(set->training().get("sample/1"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->view(), "pixels");
  rt_.run(set->close());
}

TEST_F(CacheSetTest, TheSizePolicyLetsPutsFillTheTierAndThePassEvicts) {
  config_.training_cache.policy = cleanup_policy::size;
  config_.eviction_threshold = 0.5;
  auto set = open();
  memory_tier& tier = set->training().memory();
  EXPECT_EQ(tier.high_water_bytes(), tier.capacity_bytes());  // puts fill it
  for (int i = 0; i < 60; ++i)
    rt_.run(set->training().put("k" + std::to_string(i), blob::copy_of(std::string(20000, 'x'))));
  EXPECT_GT(tier.bytes_used(), tier.capacity_bytes() / 2);
  const auto r = rt_.run(set->training().cleanup(set->members()[1].cleanup));
  EXPECT_GT(r.memory.evicted, 0u);
  EXPECT_LE(tier.bytes_used(), static_cast<std::uint64_t>(0.3 * tier.capacity_bytes()));
  rt_.run(set->close());
}

TEST_F(CacheSetTest, StartedCleanupRunsEveryCachesPassesOnOneSchedulerUntilStopped) {
  config_.memory.cleanup_interval = 1s;
  config_.disk.cleanup_interval = 1s;
  fs::create_directories(config_.system_cache.temp_dir);
  const fs::path stale = config_.system_cache.temp_dir / "stale";
  std::ofstream(stale) << "x";
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));
  auto set = open();
  rt_.run(set->system().put("old", blob::copy_of(std::string_view("v"))));
  set->start();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (fs::exists(stale) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(fs::exists(stale));
  set->stop();
  EXPECT_TRUE(set->system().contains("old"));  // an hour's max_age has not passed
  rt_.run(set->close());
}

// Below the memory floor the memory tiers give back the shortfall, in proportion to their sizes;
// they grow back once memory returns. Below the disk floor the disk tiers stop admitting.
TEST_F(CacheSetTest, ResourceFloorsShrinkMemoryAndStopDiskAdmission) {
  std::atomic<std::uint64_t> available{8ull << 30};
  std::atomic<std::uint64_t> free_disk{100ull << 30};
  host_resources host;
  host.available_memory = [&] { return available.load(); };
  host.free_disk = [&](const fs::path&) { return free_disk.load(); };
  config_.resources.min_available_memory_bytes = 100 << 20;
  config_.resources.min_free_disk_bytes = 1ull << 30;
  auto set = rt_.run(cache_set::open(rt_.executor(), config_, nullptr, host));
  ASSERT_TRUE(set->check_resources());
  EXPECT_EQ(set->model().memory().capacity_bytes(), 4u << 20);  // nothing low: nothing changes

  available = (100 << 20) - (700 << 10);  // 700 KiB short; the tiers total 7 MiB
  auto s = set->check_resources();
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->memory_low);
  EXPECT_EQ(set->model().memory().capacity_bytes(), (4u << 20) - (400u << 10));
  EXPECT_EQ(set->training().memory().capacity_bytes(), (2u << 20) - (200u << 10));
  EXPECT_EQ(set->system().memory().capacity_bytes(), (1u << 20) - (100u << 10));

  available = 0;  // far below: each tier stops at a tenth of its configured size
  set->check_resources();
  EXPECT_EQ(set->model().memory().capacity_bytes(), (4u << 20) / 10);

  available = (100 << 20) + (16 << 20);  // back above the floor by more than was given up
  set->check_resources();
  EXPECT_EQ(set->model().memory().capacity_bytes(), 4u << 20);
  EXPECT_EQ(set->system().memory().capacity_bytes(), 1u << 20);

  free_disk = 512 << 20;
  set->check_resources();
  EXPECT_FALSE(set->training().disk()->stats().admitting);
  EXPECT_FALSE(rt_.run(set->training().disk()->put("k", std::as_bytes(std::span("v", 1)))));
  free_disk = 2ull << 30;
  set->check_resources();
  EXPECT_TRUE(set->training().disk()->stats().admitting);
  EXPECT_TRUE(rt_.run(set->training().disk()->put("k", std::as_bytes(std::span("v", 1)))));
  rt_.run(set->close());
}

}  // namespace
}  // namespace larder
