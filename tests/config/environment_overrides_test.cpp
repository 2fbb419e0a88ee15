#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <larder/config/config_error.hpp>
#include <larder/config/config_loader.hpp>

#include "scoped_working_directory.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

constexpr std::uint64_t gib = 1024 * 1024 * 1024;

// An environment made of the variables a test sets, and nothing else.
class fake_environment {
 public:
  fake_environment(std::initializer_list<std::pair<const std::string, std::string>> variables)
      : variables_(variables) {}

  getenv_function getenv() const {
    return [this](const char* name) -> const char* {
      const auto it = variables_.find(name);
      return it == variables_.end() ? nullptr : it->second.c_str();
    };
  }

 private:
  std::map<std::string, std::string> variables_;
};

config_error error_applying(const fake_environment& env, cache_config& cfg,
                            const host_resources& host = {}) {
  try {
    apply_environment(cfg, env.getenv(), host);
  } catch (const config_error& e) {
    return e;
  }
  ADD_FAILURE() << "no config_error thrown";
  return config_error{"", ""};
}

const char* const seed_toml = R"(
[cache]
memory_size = "4GB"
disk_size = "100GB"
policy = "lru"
[logging]
level = "info"
)";

TEST(apply_environment, variables_override_file_values) {
  cache_config cfg = parse_toml_config(seed_toml);
  const fake_environment env{{"CACHE_MEMORY_SIZE", "2GiB"},
                             {"CACHE_DISK_SIZE", "50GB"},
                             {"CACHE_POLICY", "fifo"},
                             {"LARDER_LOG_LEVEL", "Debug"}};
  apply_environment(cfg, env.getenv());
  EXPECT_EQ(cfg.memory.size_bytes, 2 * gib);
  EXPECT_EQ(cfg.disk.size_bytes, 50'000'000'000u);
  EXPECT_EQ(cfg.memory.policy, memory_policy::fifo);
  EXPECT_EQ(cfg.logging.level, "debug");
}

TEST(apply_environment, bare_numbers_are_megabytes_as_in_files) {
  cache_config cfg = default_config();
  apply_environment(cfg, fake_environment{{"CACHE_MEMORY_SIZE", "1000"}}.getenv());
  EXPECT_EQ(cfg.memory.size_bytes, 1'000'000'000u);
}

TEST(apply_environment, unset_and_empty_variables_change_nothing) {
  const cache_config before = parse_toml_config(seed_toml);
  cache_config cfg = before;
  apply_environment(cfg, fake_environment{}.getenv());
  EXPECT_EQ(cfg, before);
  apply_environment(cfg,
                    fake_environment{{"CACHE_MEMORY_SIZE", ""}, {"CACHE_POLICY", ""}}.getenv());
  EXPECT_EQ(cfg, before);
}

TEST(apply_environment, memory_percentage_is_of_the_fake_trees_available_memory) {
  const testing::scratch_directory root;
  root.write("proc/meminfo", "MemAvailable: 8388608 kB\n");
  root.write("proc/self/cgroup", "0::/\n");
  root.write("sys/fs/cgroup/memory.max", std::to_string(6 * gib) + "\n");
  root.write("sys/fs/cgroup/memory.current", std::to_string(2 * gib) + "\n");
  host_resources host;
  host.available_memory = [&] { return available_memory_bytes(root.path()); };

  cache_config cfg = default_config();
  apply_environment(cfg, fake_environment{{"CACHE_MEMORY_SIZE", "25%"}}.getenv(), host);
  EXPECT_EQ(cfg.memory.size_bytes, 1 * gib);
}

TEST(apply_environment, disk_percentage_is_of_the_filesystem_at_the_configured_path) {
  std::filesystem::path asked;
  host_resources host;
  host.filesystem_capacity = [&](const std::filesystem::path& dir) -> std::uint64_t {
    asked = dir;
    return 2'000'000'000'000;
  };
  cache_config cfg = parse_yaml_config("cache: {disk: {path: /srv/larder}}");
  apply_environment(cfg, fake_environment{{"CACHE_DISK_SIZE", "5%"}}.getenv(), host);
  EXPECT_EQ(cfg.disk.size_bytes, 100'000'000'000u);
  EXPECT_EQ(asked, "/srv/larder");
}

TEST(apply_environment, bad_size_names_the_variable) {
  cache_config cfg = default_config();
  const config_error e = error_applying(fake_environment{{"CACHE_MEMORY_SIZE", "4XB"}}, cfg);
  EXPECT_EQ(e.key_path(), "CACHE_MEMORY_SIZE");
  EXPECT_EQ(e.value(), "4XB");
  EXPECT_STREQ(e.what(), R"(CACHE_MEMORY_SIZE: "4XB" is not a size; use e.g. 512MB, 4GiB or 30%)");
}

TEST(apply_environment, zero_disk_size_names_the_variable) {
  cache_config cfg = default_config();
  const config_error e = error_applying(fake_environment{{"CACHE_DISK_SIZE", "0"}}, cfg);
  EXPECT_STREQ(e.what(), R"(CACHE_DISK_SIZE: "0" is not a size; use e.g. 512MB, 4GiB or 30%)");
}

TEST(apply_environment, bad_policy_lists_the_policies) {
  cache_config cfg = default_config();
  const config_error e = error_applying(fake_environment{{"CACHE_POLICY", "lfu"}}, cfg);
  EXPECT_STREQ(e.what(), R"(CACHE_POLICY: "lfu" is not a memory policy; accepted: lru, fifo, s3fifo, sieve, wtinylfu)");
}

TEST(apply_environment, bad_log_level_lists_the_levels) {
  cache_config cfg = default_config();
  const config_error e = error_applying(fake_environment{{"LARDER_LOG_LEVEL", "loud"}}, cfg);
  EXPECT_STREQ(e.what(),
               R"(LARDER_LOG_LEVEL: "loud" is not a log level; accepted: trace, debug, info, )"
               R"(warn, error, critical, off)");
}

TEST(apply_environment, failure_leaves_the_config_unchanged) {
  cache_config cfg = default_config();
  error_applying(fake_environment{{"CACHE_MEMORY_SIZE", "2GB"}, {"CACHE_POLICY", "lfu"}}, cfg);
  EXPECT_EQ(cfg, default_config());
}

TEST(apply_environment, remote_password_overrides_the_file) {
  cache_config cfg = parse_yaml_config("cache: {remote: {enabled: true, password: from-file}}");
  apply_environment(cfg, fake_environment{{"CACHE_REMOTE_PASSWORD", " p@ss:w{rd} "}}.getenv());
  EXPECT_EQ(cfg.remote.password, " p@ss:w{rd} ") << "kept as written, blanks included";
  EXPECT_TRUE(cfg.remote.enabled);
}

TEST(apply_environment, empty_remote_password_is_no_override) {
  cache_config cfg = parse_yaml_config("cache: {remote: {password: from-file}}");
  apply_environment(cfg, fake_environment{{"CACHE_REMOTE_PASSWORD", ""}}.getenv());
  EXPECT_EQ(cfg.remote.password, "from-file");
}

TEST(apply_environment, remote_nodes_override_the_file) {
  cache_config cfg = parse_yaml_config("cache: {remote: {nodes: [\"10.0.0.9:6379\"]}}");
  apply_environment(
      cfg, fake_environment{{"CACHE_REMOTE_NODES", "redis-0.redis:6379, [::1]:7000"}}.getenv());
  EXPECT_EQ(cfg.remote.nodes, (std::vector<std::string>{"redis-0.redis:6379", "[::1]:7000"}));
}

TEST(apply_environment, bad_remote_node_names_the_variable_and_the_entry) {
  cache_config cfg = default_config();
  const config_error e =
      error_applying(fake_environment{{"CACHE_REMOTE_NODES", "10.0.0.1:6379,redis"}}, cfg);
  EXPECT_EQ(e.key_path(), "CACHE_REMOTE_NODES[1]");
  EXPECT_EQ(e.value(), "redis");
  EXPECT_STREQ(e.what(),
               R"(CACHE_REMOTE_NODES[1]: "redis" is not host:port with a port from 1 to 65535; )"
               R"(use e.g. 127.0.0.1:6379, redis-1.internal:6379 or [::1]:6379)");
}

TEST(apply_environment, remote_nodes_of_blanks_name_no_node) {
  cache_config cfg = default_config();
  const config_error e = error_applying(fake_environment{{"CACHE_REMOTE_NODES", "  "}}, cfg);
  EXPECT_STREQ(e.what(), R"(CACHE_REMOTE_NODES: "  " names no node; give at least one )"
                         R"(host:port, e.g. 127.0.0.1:6379)");
}

TEST(apply_environment, failure_never_quotes_the_password_and_changes_nothing) {
  cache_config cfg = default_config();
  const config_error e = error_applying(
      fake_environment{{"CACHE_REMOTE_PASSWORD", "hunter2"}, {"CACHE_REMOTE_NODES", "x:0"}}, cfg);
  EXPECT_EQ(std::string{e.what()}.find("hunter2"), std::string::npos) << e.what();
  EXPECT_EQ(cfg, default_config());
}

class load_config_chain : public ::testing::Test {
 protected:
  // Directories inside the scratch directory, so validation does not depend on the working
  // directory.
  std::filesystem::path write_config(const std::string& extra) {
    return dir_.write("larder.yaml", "cache: {memory: {size: 4GB}, disk: {path: \"" +
                                         (dir_.path() / "disk").string() + "\"}}\n" +
                                         "system_cache: {temp_dir: \"" +
                                         (dir_.path() / "tmp").string() + "\"}\n" + extra);
  }

  testing::scratch_directory dir_;
};

TEST_F(load_config_chain, environment_beats_the_file) {
  const cache_config cfg =
      load_config(write_config(""), fake_environment{{"CACHE_MEMORY_SIZE", "1GiB"}}.getenv());
  EXPECT_EQ(cfg.memory.size_bytes, 1 * gib);
  EXPECT_EQ(cfg.disk.path, dir_.path() / "disk");
}

TEST_F(load_config_chain, file_values_stand_without_environment) {
  const cache_config cfg =
      load_config(write_config("logging: {level: error}\n"), fake_environment{}.getenv());
  EXPECT_EQ(cfg.memory.size_bytes, 4'000'000'000u);
  EXPECT_EQ(cfg.logging.level, "error");
}

TEST_F(load_config_chain, validation_runs_last) {
  const std::filesystem::path file =
      dir_.write("bad.yaml", "cache: {disk: {path: /proc/larder/cache}}\n");
  try {
    load_config(file, fake_environment{}.getenv());
    FAIL() << "expected a config_error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key_path(), "cache.disk.path");
  }
}

TEST(load_config_without_file, is_defaults_plus_environment) {
  // The default directories are relative to the working directory.
  const testing::scratch_directory dir;
  const testing::scoped_working_directory in_scratch{dir.path()};
  const cache_config cfg =
      load_config(std::nullopt, fake_environment{{"CACHE_POLICY", "fifo"}}.getenv());
  cache_config expected = default_config();
  expected.memory.policy = memory_policy::fifo;
  EXPECT_EQ(cfg, expected);
}

}  // namespace
}  // namespace larder
