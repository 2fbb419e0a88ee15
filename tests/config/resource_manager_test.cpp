#include <atomic>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <larder/config/resource_manager.hpp>

#include "scratch_directory.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t gib = 1024 * mib;

constexpr resources_config floors{
    .min_available_memory_bytes = 512 * mib,
    .min_free_disk_bytes = 1 * gib,
    .check_interval = std::chrono::seconds{10},
};

// Available memory from a fake /proc and /sys/fs/cgroup tree (8 GiB MemAvailable unless a test
// says otherwise); free disk from a value the test sets, recording the path it was asked for.
class resource_manager_test : public ::testing::Test {
 protected:
  void SetUp() override {
    set_mem_available(8 * gib);
    host_.available_memory = [this] { return available_memory_bytes(root_.path()); };
    host_.free_disk = [this](const fs::path& dir) {
      disk_asked_for_ = dir;
      return free_disk_;
    };
  }

  void set_mem_available(std::uint64_t bytes) {
    root_.write("proc/meminfo", "MemTotal:       16777216 kB\nMemAvailable:   " +
                                    std::to_string(bytes / 1024) + " kB\n");
  }
  void write(const std::string& relative, std::uint64_t value) {
    root_.write(relative, std::to_string(value) + "\n");
  }

  resource_manager manager() const { return resource_manager{floors, "/data/cache", host_}; }

  testing::scratch_directory root_;
  host_resources host_;
  std::uint64_t free_disk_ = 100 * gib;
  fs::path disk_asked_for_;
};

TEST_F(resource_manager_test, plenty_of_both_is_not_low) {
  EXPECT_EQ(manager().sample(), (resource_sample{.available_memory_bytes = 8 * gib,
                                                 .free_disk_bytes = 100 * gib,
                                                 .memory_low = false,
                                                 .disk_low = false}));
  EXPECT_EQ(disk_asked_for_, "/data/cache");
}

TEST_F(resource_manager_test, memory_below_its_floor_is_low) {
  set_mem_available(256 * mib);
  const resource_sample s = manager().sample();
  EXPECT_EQ(s.available_memory_bytes, 256 * mib);
  EXPECT_TRUE(s.memory_low);
  EXPECT_FALSE(s.disk_low);
}

TEST_F(resource_manager_test, free_disk_below_its_floor_is_low) {
  free_disk_ = 1 * gib - 1;
  const resource_sample s = manager().sample();
  EXPECT_EQ(s.free_disk_bytes, 1 * gib - 1);
  EXPECT_TRUE(s.disk_low);
  EXPECT_FALSE(s.memory_low);
}

TEST_F(resource_manager_test, figures_exactly_at_the_floors_are_not_low) {
  set_mem_available(512 * mib);
  free_disk_ = 1 * gib;
  const resource_sample s = manager().sample();
  EXPECT_FALSE(s.memory_low);
  EXPECT_FALSE(s.disk_low);
}

TEST_F(resource_manager_test, each_sample_reads_the_figures_afresh) {
  const resource_manager m = manager();
  EXPECT_FALSE(m.sample().memory_low);
  set_mem_available(100 * mib);
  free_disk_ = 10 * mib;
  const resource_sample s = m.sample();
  EXPECT_TRUE(s.memory_low);
  EXPECT_TRUE(s.disk_low);
  set_mem_available(4 * gib);
  free_disk_ = 10 * gib;
  EXPECT_EQ(m.sample(), (resource_sample{.available_memory_bytes = 4 * gib,
                                         .free_disk_bytes = 10 * gib,
                                         .memory_low = false,
                                         .disk_low = false}));
}

TEST_F(resource_manager_test, cgroup_v2_limit_binds_below_mem_available) {
  root_.write("proc/self/cgroup", "0::/job\n");
  write("sys/fs/cgroup/job/memory.max", 2 * gib);
  write("sys/fs/cgroup/job/memory.current", 2 * gib - 300 * mib);
  const resource_sample s = manager().sample();
  EXPECT_EQ(s.available_memory_bytes, 300 * mib);
  EXPECT_TRUE(s.memory_low) << "8 GiB MemAvailable, but the cgroup leaves 300 MiB";
}

TEST_F(resource_manager_test, cgroup_v2_reclaimable_page_cache_is_not_taken) {
  root_.write("proc/self/cgroup", "0::/job\n");
  write("sys/fs/cgroup/job/memory.max", 2 * gib);
  write("sys/fs/cgroup/job/memory.current", 2 * gib - 300 * mib);
  root_.write("sys/fs/cgroup/job/memory.stat",
              "anon 1\ninactive_file " + std::to_string(700 * mib) + "\n");
  const resource_sample s = manager().sample();
  EXPECT_EQ(s.available_memory_bytes, 1000 * mib) << "2 GiB - (1748 MiB used - 700 MiB cache)";
  EXPECT_FALSE(s.memory_low);
}

TEST_F(resource_manager_test, cgroup_v1_limit_binds_below_mem_available) {
  root_.write("proc/self/cgroup", "11:memory:/job\n1:cpu,cpuacct:/job\n");
  write("sys/fs/cgroup/memory/job/memory.limit_in_bytes", 1 * gib);
  write("sys/fs/cgroup/memory/job/memory.usage_in_bytes", 600 * mib);
  const resource_sample s = manager().sample();
  EXPECT_EQ(s.available_memory_bytes, 424 * mib);
  EXPECT_TRUE(s.memory_low);
}

TEST_F(resource_manager_test, built_from_a_config_uses_its_floors_and_disk_path) {
  cache_config cfg;
  cfg.disk.path = "/var/cache/larder";
  cfg.resources.min_available_memory_bytes = 9 * gib;
  cfg.resources.min_free_disk_bytes = 50 * gib;
  const resource_manager m{cfg, host_};
  EXPECT_EQ(m.floors(), cfg.resources);
  EXPECT_EQ(m.disk_path(), "/var/cache/larder");
  const resource_sample s = m.sample();
  EXPECT_TRUE(s.memory_low) << "8 GiB available, floor 9 GiB";
  EXPECT_FALSE(s.disk_low) << "100 GiB free, floor 50 GiB";
  EXPECT_EQ(disk_asked_for_, "/var/cache/larder");
}

TEST_F(resource_manager_test, unreadable_meminfo_is_thrown_to_the_caller) {
  fs::remove(root_.path() / "proc/meminfo");
  EXPECT_THROW(manager().sample(), std::runtime_error);
}

TEST_F(resource_manager_test, failing_free_disk_is_thrown_to_the_caller) {
  host_.free_disk = [](const fs::path& dir) -> std::uint64_t {
    throw fs::filesystem_error("cannot read free disk space", dir,
                               std::make_error_code(std::errc::io_error));
  };
  EXPECT_THROW(manager().sample(), fs::filesystem_error);
}

TEST_F(resource_manager_test, concurrent_samples_each_agree_with_their_own_figures) {
  // Every reading swings across its floor, and four threads sample at once: each sample's flags
  // must match the figures in that same sample.
  std::atomic<std::uint64_t> memory_reads{0};
  std::atomic<std::uint64_t> disk_reads{0};
  host_.available_memory = [&] { return memory_reads++ % 2 == 0 ? 100 * mib : 8 * gib; };
  host_.free_disk = [&](const fs::path&) { return disk_reads++ % 3 == 0 ? 10 * mib : 100 * gib; };
  const resource_manager m = manager();
  constexpr int threads = 4;
  constexpr int samples_per_thread = 5000;
  std::atomic<int> disagreements{0};
  std::atomic<int> memory_low_seen{0};
  std::atomic<int> disk_low_seen{0};
  std::vector<std::thread> samplers;
  for (int t = 0; t < threads; ++t) {
    samplers.emplace_back([&] {
      for (int i = 0; i < samples_per_thread; ++i) {
        const resource_sample s = m.sample();
        if (s.memory_low != (s.available_memory_bytes < floors.min_available_memory_bytes) ||
            s.disk_low != (s.free_disk_bytes < floors.min_free_disk_bytes)) {
          ++disagreements;
        }
        memory_low_seen += s.memory_low ? 1 : 0;
        disk_low_seen += s.disk_low ? 1 : 0;
      }
    });
  }
  for (std::thread& t : samplers)
    t.join();
  EXPECT_EQ(disagreements.load(), 0);
  EXPECT_EQ(memory_reads.load(), threads * samples_per_thread) << "one reading per sample";
  EXPECT_EQ(memory_low_seen.load(), threads * samples_per_thread / 2);
  EXPECT_EQ(disk_low_seen.load(), (threads * samples_per_thread + 2) / 3);
}

TEST(resource_manager_on_this_machine, samples_real_memory_and_the_real_disk) {
  const testing::scratch_directory dir;
  const resource_manager m{floors, dir.path() / "not" / "yet"};
  const resource_sample s = m.sample();
  EXPECT_GT(s.available_memory_bytes, 0u);
  const std::uint64_t expected = fs::space(dir.path()).available;
  // Other processes write to the same disk between the two readings.
  EXPECT_NEAR(static_cast<double>(s.free_disk_bytes), static_cast<double>(expected),
              static_cast<double>(256 * mib));
  EXPECT_FALSE(fs::exists(dir.path() / "not")) << "sampling creates nothing";
}

}  // namespace
}  // namespace larder
