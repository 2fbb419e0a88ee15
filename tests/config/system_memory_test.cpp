#include <cstdint>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include <larder/config/system_memory.hpp>

#include "scratch_directory.hpp"

namespace larder {
namespace {

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t gib = 1024 * mib;

// A fake root holding /proc/meminfo, /proc/self/cgroup and /sys/fs/cgroup files, with 8 GiB
// available unless a test says otherwise.
class system_memory : public ::testing::Test {
 protected:
  void SetUp() override { set_mem_available_kib(8 * gib / 1024); }

  void set_mem_available_kib(std::uint64_t kib) {
    root_.write("proc/meminfo",
                "MemTotal:       16384000 kB\nMemFree:         1000000 kB\n"
                "MemAvailable:   " +
                    std::to_string(kib) + " kB\nBuffers:          100000 kB\n");
  }
  void set_cgroup_membership(const std::string& lines) { root_.write("proc/self/cgroup", lines); }
  void write_sys(const std::string& relative, const std::string& content) {
    root_.write("sys/fs/cgroup/" + relative, content);
  }
  std::uint64_t available() const { return available_memory_bytes(root_.path()); }

  testing::scratch_directory root_;
};

TEST_F(system_memory, without_cgroup_files_is_mem_available) {
  EXPECT_EQ(available(), 8 * gib);
}

TEST_F(system_memory, cgroup_v2_without_limit_is_mem_available) {
  set_cgroup_membership("0::/user.slice/app.scope\n");
  write_sys("user.slice/app.scope/memory.max", "max\n");
  write_sys("user.slice/app.scope/memory.current", "123456789\n");
  EXPECT_EQ(available(), 8 * gib);
}

TEST_F(system_memory, cgroup_v2_lower_limit_wins) {
  set_cgroup_membership("0::/app\n");
  write_sys("app/memory.max", std::to_string(2 * gib) + "\n");
  write_sys("app/memory.current", std::to_string(512 * mib) + "\n");
  EXPECT_EQ(available(), 2 * gib - 512 * mib);
}

TEST_F(system_memory, cgroup_v2_higher_limit_leaves_mem_available) {
  set_cgroup_membership("0::/app\n");
  write_sys("app/memory.max", std::to_string(64 * gib) + "\n");
  write_sys("app/memory.current", std::to_string(1 * gib) + "\n");
  EXPECT_EQ(available(), 8 * gib);
}

TEST_F(system_memory, cgroup_v2_reclaimable_page_cache_counts_as_free) {
  set_cgroup_membership("0::/app\n");
  write_sys("app/memory.max", std::to_string(2 * gib) + "\n");
  write_sys("app/memory.current", std::to_string(1 * gib) + "\n");
  write_sys("app/memory.stat", "anon 100\nactive_file 5\ninactive_file " +
                                   std::to_string(256 * mib) + "\nfile_dirty 0\n");
  EXPECT_EQ(available(), 2 * gib - (1 * gib - 256 * mib));
}

TEST_F(system_memory, cgroup_v2_limit_of_a_parent_binds_its_children) {
  set_cgroup_membership("0::/user.slice/session.scope\n");
  write_sys("user.slice/memory.max", std::to_string(1 * gib) + "\n");
  write_sys("user.slice/memory.current", std::to_string(100 * mib) + "\n");
  write_sys("user.slice/session.scope/memory.max", "max\n");
  write_sys("user.slice/session.scope/memory.current", std::to_string(50 * mib) + "\n");
  EXPECT_EQ(available(), 1 * gib - 100 * mib);
}

TEST_F(system_memory, cgroup_v2_mounted_at_the_containers_own_group) {
  // Without a cgroup namespace, /proc/self/cgroup names the host's path, but the container sees
  // its own group at the mount point.
  set_cgroup_membership("0::/system.slice/docker-abc.scope\n");
  write_sys("memory.max", std::to_string(3 * gib) + "\n");
  write_sys("memory.current", std::to_string(1 * gib) + "\n");
  EXPECT_EQ(available(), 2 * gib);
}

TEST_F(system_memory, cgroup_v1_lower_limit_wins) {
  set_cgroup_membership("12:cpu,cpuacct:/\n4:memory:/\n1:name=systemd:/\n");
  write_sys("memory/memory.limit_in_bytes", std::to_string(1 * gib) + "\n");
  write_sys("memory/memory.usage_in_bytes", std::to_string(256 * mib) + "\n");
  EXPECT_EQ(available(), 1 * gib - 256 * mib);
}

TEST_F(system_memory, cgroup_v1_memory_listed_with_other_controllers) {
  set_cgroup_membership("7:memory,hugetlb:/job\n");
  write_sys("memory/job/memory.limit_in_bytes", std::to_string(1 * gib) + "\n");
  write_sys("memory/job/memory.usage_in_bytes", std::to_string(512 * mib) + "\n");
  write_sys("memory/job/memory.stat",
            "cache 0\ninactive_file 1\ntotal_inactive_file " + std::to_string(128 * mib) + "\n");
  EXPECT_EQ(available(), 1 * gib - (512 * mib - 128 * mib));
}

TEST_F(system_memory, cgroup_v1_unset_limit_is_a_huge_number_and_never_wins) {
  set_cgroup_membership("4:memory:/\n");
  write_sys("memory/memory.limit_in_bytes", "9223372036854771712\n");
  write_sys("memory/memory.usage_in_bytes", std::to_string(3 * gib) + "\n");
  EXPECT_EQ(available(), 8 * gib);
}

TEST_F(system_memory, usage_above_limit_leaves_nothing) {
  set_cgroup_membership("0::/app\n");
  write_sys("app/memory.max", std::to_string(1 * gib) + "\n");
  write_sys("app/memory.current", std::to_string(2 * gib) + "\n");
  EXPECT_EQ(available(), 0u);
}

TEST_F(system_memory, tightest_of_v1_and_v2_on_a_hybrid_system) {
  set_cgroup_membership("4:memory:/job\n0::/job\n");
  write_sys("memory/job/memory.limit_in_bytes", std::to_string(3 * gib) + "\n");
  write_sys("memory/job/memory.usage_in_bytes", "0\n");
  write_sys("job/memory.max", std::to_string(2 * gib) + "\n");
  write_sys("job/memory.current", "0\n");
  EXPECT_EQ(available(), 2 * gib);
}

TEST_F(system_memory, missing_meminfo_throws_naming_the_file) {
  std::filesystem::remove(root_.path() / "proc/meminfo");
  try {
    available();
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("proc/meminfo"), std::string::npos) << e.what();
  }
}

TEST_F(system_memory, meminfo_without_mem_available_throws) {
  root_.write("proc/meminfo", "MemTotal: 1000 kB\nMemFree: 500 kB\n");
  EXPECT_THROW(available(), std::runtime_error);
}

TEST(system_memory_on_this_machine, reports_some_memory) {
  EXPECT_GT(available_memory_bytes(), 0u);
}

}  // namespace
}  // namespace larder
