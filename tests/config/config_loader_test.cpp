#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <larder/config/config_error.hpp>
#include <larder/config/config_loader.hpp>

#include "scratch_directory.hpp"

namespace larder {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::uint64_t mb = 1000 * 1000;
constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t gib = 1024 * mib;

// Runs `load` and returns the config_error it throws; fails the test if it throws nothing.
template <typename Load>
config_error error_from(Load load) {
  try {
    load();
  } catch (const config_error& e) {
    return e;
  }
  ADD_FAILURE() << "no config_error thrown";
  return config_error{"", ""};
}

// The remote tier is off until a file turns it on; the system cache never uses it by default.
void expect_remote_defaults(const cache_config& cfg) {
  EXPECT_FALSE(cfg.remote.enabled);
  EXPECT_EQ(cfg.remote.nodes, std::vector<std::string>{"127.0.0.1:6379"});
  EXPECT_EQ(cfg.remote.user, "");
  EXPECT_EQ(cfg.remote.password, "");
  EXPECT_EQ(cfg.remote.key_prefix, "larder");
  EXPECT_EQ(cfg.remote.mode, remote_use::read_write);
  EXPECT_EQ(cfg.remote.request_timeout, milliseconds{100});
  EXPECT_EQ(cfg.remote.connect_timeout, milliseconds{1000});
  EXPECT_EQ(cfg.remote.connections_per_node, 2u);
  EXPECT_EQ(cfg.remote.max_value_size, 64 * mib);
  EXPECT_EQ(cfg.remote.large_values, large_value_policy::chunk);
  EXPECT_EQ(cfg.remote.chunk_size, 1 * mib);
  EXPECT_EQ(cfg.remote.breaker_failures, 5u);
  EXPECT_EQ(cfg.remote.breaker_open_for, milliseconds{5000});
  EXPECT_EQ(cfg.model_cache.remote, remote_use::read_write);
  EXPECT_EQ(cfg.training_cache.remote, remote_use::read_write);
  EXPECT_EQ(cfg.system_cache.remote, remote_use::off);
}

void expect_seed_defaults(const cache_config& cfg) {
  EXPECT_EQ(cfg.memory.size_bytes, 1000 * mb);
  EXPECT_EQ(cfg.memory.policy, memory_policy::lru);
  EXPECT_TRUE(cfg.memory.compression);
  EXPECT_EQ(cfg.memory.max_items, 0u);
  EXPECT_EQ(cfg.memory.cleanup_interval, seconds{300});
  EXPECT_EQ(cfg.disk.size_bytes, 10000 * mb);
  EXPECT_EQ(cfg.disk.path, "./cache");
  EXPECT_EQ(cfg.disk.cleanup_interval, seconds{3600});
  EXPECT_FALSE(cfg.disk.use_mmap);
  EXPECT_TRUE(cfg.disk.reinsertion);
  EXPECT_DOUBLE_EQ(cfg.eviction_threshold, 0.9);
  EXPECT_EQ(cfg.resources.min_available_memory_bytes, 512 * mib);
  EXPECT_EQ(cfg.resources.min_free_disk_bytes, 1 * gib);
  EXPECT_EQ(cfg.resources.check_interval, seconds{10});
  EXPECT_TRUE(cfg.metrics.enabled);
  EXPECT_EQ(cfg.metrics.address, "127.0.0.1");
  EXPECT_EQ(cfg.metrics.port, 9464);
  EXPECT_EQ(cfg.model_cache.size_bytes, 1024 * mb);
  EXPECT_EQ(cfg.model_cache.format, "safetensors");
  EXPECT_TRUE(cfg.model_cache.compression);
  EXPECT_EQ(cfg.model_cache.policy, cleanup_policy::lru);
  EXPECT_EQ(cfg.model_cache.eviction, memory_policy::s3fifo);
  EXPECT_EQ(cfg.training_cache.eviction, memory_policy::sieve);
  EXPECT_EQ(cfg.system_cache.eviction, memory_policy::s3fifo);
  EXPECT_EQ(cfg.training_cache.size_bytes, 512 * mb);
  EXPECT_EQ(cfg.training_cache.batch_buffer, 32u);
  EXPECT_EQ(cfg.training_cache.prefetch, 4u);
  EXPECT_EQ(cfg.training_cache.policy, cleanup_policy::fifo);
  EXPECT_EQ(cfg.system_cache.size_bytes, 256 * mb);
  EXPECT_EQ(cfg.system_cache.temp_dir, ".cache/temp");
  EXPECT_EQ(cfg.system_cache.max_age, seconds{86400});
  EXPECT_EQ(cfg.system_cache.policy, cleanup_policy::time);
  EXPECT_EQ(cfg.logging.level, "info");
  expect_remote_defaults(cfg);
}

// A host whose every figure fails the test if asked: documents without percentages must not
// touch the system.
host_resources host_that_must_not_be_asked() {
  host_resources host;
  host.available_memory = []() -> std::uint64_t {
    ADD_FAILURE() << "available memory asked";
    return 1;
  };
  host.filesystem_capacity = [](const std::filesystem::path&) -> std::uint64_t {
    ADD_FAILURE() << "filesystem capacity asked";
    return 1;
  };
  return host;
}

TEST(default_config, holds_the_seed_values) {
  expect_seed_defaults(default_config());
}

TEST(default_config, agrees_with_the_data_model_defaults) {
  EXPECT_EQ(default_config(), cache_config{});
}

TEST(default_config, printed_text_is_a_complete_config_document) {
  const std::string_view text = default_config_yaml();
  // Every setting is spelled out, so the printed text is a full template.
  for (const char* key : {"cache:",
                          "memory:",
                          "size:",
                          "type:",
                          "compression:",
                          "max_items:",
                          "cleanup_interval:",
                          "disk:",
                          "path:",
                          "use_mmap:",
                          "eviction_threshold:",
                          "resources:",
                          "min_available_memory:",
                          "min_free_disk:",
                          "check_interval:",
                          "metrics:",
                          "enabled:",
                          "address:",
                          "port:",
                          "remote:",
                          "nodes:",
                          "user:",
                          "password:",
                          "key_prefix:",
                          "mode:",
                          "request_timeout:",
                          "connect_timeout:",
                          "connections_per_node:",
                          "max_value_size:",
                          "large_values:",
                          "chunk_size:",
                          "breaker_failures:",
                          "breaker_open_for:",
                          "model_cache:",
                          "format:",
                          "cleanup_policy:",
                          "training_cache:",
                          "batch_buffer:",
                          "prefetch:",
                          "system_cache:",
                          "temp_dir:",
                          "max_age:",
                          "logging:",
                          "level:"}) {
    EXPECT_NE(text.find(key), std::string_view::npos) << key;
  }
  EXPECT_EQ(parse_yaml_config(text, "<defaults>", host_that_must_not_be_asked()), default_config());
}

TEST(parse_yaml_config, seed_core_settings) {
  const cache_config cfg = parse_yaml_config(R"(
cache:
  memory:
    size: 1000  # MB
    type: "lru"
    compression: true
  disk:
    size: 10000  # MB
    path: "./cache"
    cleanup_interval: 3600  # seconds
)");
  expect_seed_defaults(cfg);
}

TEST(parse_yaml_config, full_document_sets_every_field) {
  const cache_config cfg = parse_yaml_config(R"(
cache:
  memory: {size: 2000, type: "fifo", compression: false, max_items: 5000, cleanup_interval: 60}
  disk: {size: "20GB", path: "/var/cache/larder", cleanup_interval: "2h", use_mmap: true,
         reinsertion: false}
  eviction_threshold: 0.75
  resources: {min_available_memory: 2GiB, min_free_disk: 20GB, check_interval: 30s}
  metrics: {enabled: false, address: "0.0.0.0", port: 9100}
model_cache: {size: 2GiB, format: "safetensors", compression: false, cleanup_policy: "size"}
training_cache: {size: 256, batch_buffer: 64, prefetch: 0, cleanup_policy: "lru", eviction: sieve}
system_cache: {size: 128MB, temp_dir: "/tmp/larder", max_age: 1d, cleanup_policy: "fifo"}
logging: {level: DEBUG}
)",
                                             "<yaml>", host_that_must_not_be_asked());
  EXPECT_EQ(cfg.memory.size_bytes, 2000 * mb);
  EXPECT_EQ(cfg.memory.policy, memory_policy::fifo);
  EXPECT_FALSE(cfg.memory.compression);
  EXPECT_EQ(cfg.memory.max_items, 5000u);
  EXPECT_EQ(cfg.memory.cleanup_interval, seconds{60});
  EXPECT_EQ(cfg.disk.size_bytes, 20'000'000'000u);
  EXPECT_EQ(cfg.disk.path, "/var/cache/larder");
  EXPECT_EQ(cfg.disk.cleanup_interval, seconds{7200});
  EXPECT_TRUE(cfg.disk.use_mmap);
  EXPECT_FALSE(cfg.disk.reinsertion);
  EXPECT_DOUBLE_EQ(cfg.eviction_threshold, 0.75);
  EXPECT_EQ(cfg.resources.min_available_memory_bytes, 2 * gib);
  EXPECT_EQ(cfg.resources.min_free_disk_bytes, 20'000'000'000u);
  EXPECT_EQ(cfg.resources.check_interval, seconds{30});
  EXPECT_FALSE(cfg.metrics.enabled);
  EXPECT_EQ(cfg.metrics.address, "0.0.0.0");
  EXPECT_EQ(cfg.metrics.port, 9100);
  EXPECT_EQ(cfg.model_cache.size_bytes, 2 * gib);
  EXPECT_FALSE(cfg.model_cache.compression);
  EXPECT_EQ(cfg.model_cache.policy, cleanup_policy::size);
  EXPECT_EQ(cfg.training_cache.size_bytes, 256 * mb);
  EXPECT_EQ(cfg.training_cache.batch_buffer, 64u);
  EXPECT_EQ(cfg.training_cache.prefetch, 0u);
  EXPECT_EQ(cfg.training_cache.policy, cleanup_policy::lru);
  EXPECT_EQ(cfg.training_cache.eviction, memory_policy::sieve);
  EXPECT_EQ(cfg.system_cache.size_bytes, 128 * mb);
  EXPECT_EQ(cfg.system_cache.temp_dir, "/tmp/larder");
  EXPECT_EQ(cfg.system_cache.max_age, seconds{86400});
  EXPECT_EQ(cfg.system_cache.policy, cleanup_policy::fifo);
  EXPECT_EQ(cfg.logging.level, "debug");
}

TEST(parse_yaml_config, resources_block_alone_changes_only_its_keys) {
  const cache_config cfg = parse_yaml_config("cache:\n  resources:\n    check_interval: 2m\n");
  cache_config expected = default_config();
  expected.resources.check_interval = seconds{120};
  EXPECT_EQ(cfg, expected);
}

TEST(parse_yaml_config, metrics_block_alone_changes_only_its_keys) {
  const cache_config cfg = parse_yaml_config("cache:\n  metrics:\n    port: 0\n");
  cache_config expected = default_config();
  expected.metrics.port = 0;
  EXPECT_EQ(cfg, expected);
}

TEST(parse_yaml_config, metrics_address_may_be_an_unquoted_ipv6_literal) {
  const cache_config cfg =
      parse_yaml_config("cache:\n  metrics:\n    address: ::1\n    port: 65535\n");
  EXPECT_EQ(cfg.metrics.address, "::1");
  EXPECT_EQ(cfg.metrics.port, 65535);
  EXPECT_EQ(parse_yaml_config("cache: {metrics: {address: \"fe80::1:2\"}}").metrics.address,
            "fe80::1:2");
  EXPECT_EQ(parse_yaml_config("cache: {metrics: {address: \"::\"}}").metrics.address, "::");
}

TEST(parse_yaml_config, keys_left_out_keep_their_defaults) {
  const cache_config cfg = parse_yaml_config("training_cache:\n  prefetch: 8\n");
  cache_config expected = default_config();
  expected.training_cache.prefetch = 8;
  EXPECT_EQ(cfg, expected);
}

TEST(parse_yaml_config, empty_document_is_the_defaults) {
  EXPECT_EQ(parse_yaml_config(""), default_config());
  EXPECT_EQ(parse_yaml_config("# nothing but a comment\n"), default_config());
}

TEST(parse_yaml_config, block_with_every_entry_commented_out_is_empty) {
  EXPECT_EQ(parse_yaml_config("cache:\n  # memory: {size: 1}\nlogging:\n"), default_config());
}

TEST(parse_yaml_config, yaml_booleans_yes_and_no_are_accepted) {
  const cache_config cfg =
      parse_yaml_config("cache: {memory: {compression: no}, disk: {use_mmap: yes}}");
  EXPECT_FALSE(cfg.memory.compression);
  EXPECT_TRUE(cfg.disk.use_mmap);
}

TEST(parse_yaml_config, policy_is_an_alias_of_memory_type) {
  EXPECT_EQ(parse_yaml_config("cache: {policy: fifo}").memory.policy, memory_policy::fifo);
  EXPECT_EQ(parse_yaml_config("cache: {policy: fifo, memory: {type: fifo}}").memory.policy,
            memory_policy::fifo);
}

TEST(parse_yaml_config, contradicting_policy_and_memory_type_are_refused) {
  const config_error e =
      error_from([] { parse_yaml_config("cache: {memory: {type: lru}, policy: fifo}"); });
  EXPECT_EQ(e.key_path(), "cache.policy");
  EXPECT_EQ(e.value(), "fifo");
  EXPECT_NE(std::string{e.what()}.find("contradicts cache.memory.type \"lru\""), std::string::npos)
      << e.what();
}

TEST(parse_yaml_config, syntax_error_names_origin_and_line) {
  const config_error e =
      error_from([] { parse_yaml_config("cache:\n  memory: [1, 2\n", "settings.yaml"); });
  EXPECT_EQ(e.key_path(), "settings.yaml");
  EXPECT_NE(std::string{e.what()}.find("settings.yaml: line "), std::string::npos) << e.what();
}

TEST(parse_yaml_config, key_given_twice_is_refused) {
  const config_error e =
      error_from([] { parse_yaml_config("cache:\n  policy: lru\n  policy: fifo\n"); });
  EXPECT_EQ(e.key_path(), "cache.policy");
  EXPECT_NE(std::string{e.what()}.find("twice"), std::string::npos) << e.what();
}

TEST(parse_yaml_config, document_that_is_not_a_table_is_refused) {
  const config_error e = error_from([] { parse_yaml_config("- cache\n- disk\n", "list.yaml"); });
  EXPECT_EQ(e.key_path(), "list.yaml");
  EXPECT_NE(std::string{e.what()}.find("is not a table of settings"), std::string::npos)
      << e.what();
}

constexpr const char* seed_toml = R"(
[cache]
memory_size = "4GB"
disk_size = "100GB"
policy = "lru"
eviction_threshold = 0.9

[cache.memory]
max_items = 1000
cleanup_interval = 300

[cache.disk]
path = ".cache/training"
use_mmap = true
)";

TEST(parse_toml_config, seed_example) {
  const cache_config cfg = parse_toml_config(seed_toml, "<toml>", host_that_must_not_be_asked());
  cache_config expected = default_config();
  expected.memory.size_bytes = 4'000'000'000;
  expected.disk.size_bytes = 100'000'000'000;
  expected.memory.policy = memory_policy::lru;
  expected.eviction_threshold = 0.9;
  expected.memory.max_items = 1000;
  expected.memory.cleanup_interval = seconds{300};
  expected.disk.path = ".cache/training";
  expected.disk.use_mmap = true;
  EXPECT_EQ(cfg, expected);
}

TEST(parse_toml_config, profiles_logging_and_number_forms) {
  const cache_config cfg = parse_toml_config(R"(
[cache]
memory_size = 2048
disk_size = "1.5TiB"
policy = "fifo"
eviction_threshold = 1

[cache.memory]
compression = false
cleanup_interval = "5m"

[cache.disk]
cleanup_interval = 7200

[cache.resources]
min_available_memory = 256
min_free_disk = "2GiB"
check_interval = "1m"

[model_cache]
size = "3GiB"
format = "safetensors"
compression = false
cleanup_policy = "time"

[training_cache]
size = 100
batch_buffer = 8
prefetch = 16
cleanup_policy = "size"

[system_cache]
size = 64.5
temp_dir = "/scratch/tmp"
max_age = "12h"
cleanup_policy = "lru"

[logging]
level = "warn"
)");
  EXPECT_EQ(cfg.memory.size_bytes, 2048 * mb);
  EXPECT_EQ(cfg.disk.size_bytes, 1'649'267'441'664u);
  EXPECT_EQ(cfg.memory.policy, memory_policy::fifo);
  EXPECT_DOUBLE_EQ(cfg.eviction_threshold, 1.0);
  EXPECT_FALSE(cfg.memory.compression);
  EXPECT_EQ(cfg.memory.cleanup_interval, seconds{300});
  EXPECT_EQ(cfg.disk.cleanup_interval, seconds{7200});
  EXPECT_EQ(cfg.resources.min_available_memory_bytes, 256 * mb);
  EXPECT_EQ(cfg.resources.min_free_disk_bytes, 2 * gib);
  EXPECT_EQ(cfg.resources.check_interval, seconds{60});
  EXPECT_EQ(cfg.model_cache.size_bytes, 3 * gib);
  EXPECT_FALSE(cfg.model_cache.compression);
  EXPECT_EQ(cfg.model_cache.policy, cleanup_policy::time);
  EXPECT_EQ(cfg.training_cache.size_bytes, 100 * mb);
  EXPECT_EQ(cfg.training_cache.batch_buffer, 8u);
  EXPECT_EQ(cfg.training_cache.prefetch, 16u);
  EXPECT_EQ(cfg.training_cache.policy, cleanup_policy::size);
  EXPECT_EQ(cfg.system_cache.size_bytes, 64'500'000u);
  EXPECT_EQ(cfg.system_cache.temp_dir, "/scratch/tmp");
  EXPECT_EQ(cfg.system_cache.max_age, seconds{12 * 3600});
  EXPECT_EQ(cfg.system_cache.policy, cleanup_policy::lru);
  EXPECT_EQ(cfg.logging.level, "warn");
}

TEST(parse_toml_config, metrics_table) {
  const cache_config cfg = parse_toml_config(R"(
[cache.metrics]
enabled = false
address = "::"
port = 0
)",
                                             "<toml>", host_that_must_not_be_asked());
  cache_config expected = default_config();
  expected.metrics.enabled = false;
  expected.metrics.address = "::";
  expected.metrics.port = 0;
  EXPECT_EQ(cfg, expected);
}

TEST(parse_toml_config, empty_document_is_the_defaults) {
  EXPECT_EQ(parse_toml_config(""), default_config());
}

TEST(parse_toml_config, syntax_error_names_origin_and_line) {
  const config_error e =
      error_from([] { parse_toml_config("[cache]\nmemory_size = \"4GB\n", "cache.toml"); });
  EXPECT_EQ(e.key_path(), "cache.toml");
  EXPECT_NE(std::string{e.what()}.find("cache.toml: line 2"), std::string::npos) << e.what();
}

// A fake /proc tree with 8 GiB available, read through available_memory_bytes(root).
class percentage_sizes : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.write("proc/meminfo", "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n");
    host_.available_memory = [this] {
      ++memory_queries_;
      return available_memory_bytes(root_.path());
    };
    host_.filesystem_capacity = [this](const std::filesystem::path& dir) -> std::uint64_t {
      capacity_asked_for_ = dir;
      return 1'000'000'000'000;
    };
  }

  testing::scratch_directory root_;
  host_resources host_;
  int memory_queries_ = 0;
  std::filesystem::path capacity_asked_for_;
};

TEST_F(percentage_sizes, memory_and_profile_sizes_are_shares_of_available_memory) {
  const cache_config cfg = parse_yaml_config(R"(
cache: {memory: {size: 25%}}
model_cache: {size: 50%}
training_cache: {size: 12.5%}
system_cache: {size: 1%}
)",
                                             "<yaml>", host_);
  EXPECT_EQ(cfg.memory.size_bytes, 2 * gib);
  EXPECT_EQ(cfg.model_cache.size_bytes, 4 * gib);
  EXPECT_EQ(cfg.training_cache.size_bytes, 1 * gib);
  EXPECT_EQ(cfg.system_cache.size_bytes, 8 * gib / 100);
  EXPECT_EQ(memory_queries_, 1) << "available memory is read once per document";
}

TEST_F(percentage_sizes, memory_floor_is_a_share_of_available_memory_read_once_per_document) {
  const cache_config cfg = parse_yaml_config(
      "cache: {memory: {size: 50%}, resources: {min_available_memory: 5%}}", "<yaml>", host_);
  EXPECT_EQ(cfg.memory.size_bytes, 4 * gib);
  EXPECT_EQ(cfg.resources.min_available_memory_bytes, 8 * gib * 5 / 100);
  EXPECT_EQ(memory_queries_, 1);
}

TEST_F(percentage_sizes, disk_floor_is_a_share_of_the_filesystem_at_the_final_disk_path) {
  const cache_config cfg = parse_toml_config(
      "[cache.resources]\nmin_free_disk = \"2.5%\"\n[cache.disk]\npath = \"/data/larder\"\n",
      "<toml>", host_);
  EXPECT_EQ(cfg.resources.min_free_disk_bytes, 25'000'000'000u);
  EXPECT_EQ(capacity_asked_for_, "/data/larder");
  EXPECT_EQ(memory_queries_, 0);
}

TEST_F(percentage_sizes, disk_size_and_floor_share_one_capacity_reading) {
  int capacity_queries = 0;
  host_.filesystem_capacity = [&](const std::filesystem::path&) -> std::uint64_t {
    ++capacity_queries;
    return 1'000'000'000'000;
  };
  const cache_config cfg = parse_yaml_config(
      "cache: {disk: {size: 10%}, resources: {min_free_disk: 1%}}", "<yaml>", host_);
  EXPECT_EQ(cfg.disk.size_bytes, 100'000'000'000u);
  EXPECT_EQ(cfg.resources.min_free_disk_bytes, 10'000'000'000u);
  EXPECT_EQ(capacity_queries, 1);
}

TEST_F(percentage_sizes, unreadable_capacity_is_reported_against_the_disk_floor) {
  host_.filesystem_capacity = [](const std::filesystem::path&) -> std::uint64_t {
    throw std::runtime_error("no statfs here");
  };
  const config_error e = error_from(
      [&] { parse_yaml_config("cache: {resources: {min_free_disk: 5%}}", "<yaml>", host_); });
  EXPECT_EQ(e.key_path(), "cache.resources.min_free_disk");
  EXPECT_EQ(e.value(), "5%");
  EXPECT_NE(std::string{e.what()}.find("cannot be resolved: no statfs here"), std::string::npos)
      << e.what();
}

TEST_F(percentage_sizes, cgroup_limit_of_the_fake_tree_is_what_a_percentage_refers_to) {
  root_.write("proc/self/cgroup", "0::/job\n");
  root_.write("sys/fs/cgroup/job/memory.max", std::to_string(4 * gib) + "\n");
  root_.write("sys/fs/cgroup/job/memory.current", "0\n");
  EXPECT_EQ(
      parse_toml_config("[cache]\nmemory_size = \"50%\"\n", "<toml>", host_).memory.size_bytes,
      2 * gib);
}

TEST_F(percentage_sizes, disk_percentage_is_of_the_filesystem_at_the_final_disk_path) {
  // memory_size comes before [cache.disk] path: the share must use the path the document ends
  // with.
  const cache_config cfg = parse_toml_config(
      "[cache]\ndisk_size = \"10%\"\n[cache.disk]\npath = \"/data/larder\"\n", "<toml>", host_);
  EXPECT_EQ(cfg.disk.size_bytes, 100'000'000'000u);
  EXPECT_EQ(capacity_asked_for_, "/data/larder");
  EXPECT_EQ(memory_queries_, 0);
}

TEST(percentage_disk_size, real_filesystem_capacity_of_nearest_existing_ancestor) {
  const testing::scratch_directory dir;
  const std::filesystem::path missing = dir.path() / "not" / "yet";
  const cache_config cfg =
      parse_yaml_config("cache: {disk: {size: 10%, path: \"" + missing.string() + "\"}}");
  EXPECT_EQ(cfg.disk.size_bytes, std::filesystem::space(dir.path()).capacity / 10);
  EXPECT_FALSE(std::filesystem::exists(missing)) << "parsing creates nothing";
}

TEST_F(percentage_sizes, unreadable_base_is_reported_against_the_setting) {
  host_.available_memory = []() -> std::uint64_t { throw std::runtime_error("no meminfo here"); };
  const config_error e =
      error_from([&] { parse_yaml_config("model_cache: {size: 30%}", "<yaml>", host_); });
  EXPECT_EQ(e.key_path(), "model_cache.size");
  EXPECT_EQ(e.value(), "30%");
  EXPECT_NE(std::string{e.what()}.find("cannot be resolved: no meminfo here"), std::string::npos)
      << e.what();
}

TEST_F(percentage_sizes, share_below_one_byte_is_refused) {
  host_.available_memory = []() -> std::uint64_t { return 10; };
  const config_error e =
      error_from([&] { parse_yaml_config("cache: {memory: {size: 5%}}", "<yaml>", host_); });
  EXPECT_EQ(e.key_path(), "cache.memory.size");
  EXPECT_NE(std::string{e.what()}.find("is less than one byte of the available memory"),
            std::string::npos)
      << e.what();
}

// One bad value: the document, and the key path, value and message pieces its error must carry.
struct bad_value_case {
  const char* name;
  bool toml;
  const char* document;
  const char* key_path;
  const char* value;
  const char* message_part;
};

void PrintTo(const bad_value_case& c, std::ostream* os) {
  *os << c.name;
}

class bad_value : public ::testing::TestWithParam<bad_value_case> {};

TEST_P(bad_value, is_refused_naming_key_value_and_accepted_forms) {
  const bad_value_case& c = GetParam();
  const config_error e = error_from([&] {
    if (c.toml) {
      parse_toml_config(c.document, "<toml>", host_that_must_not_be_asked());
    } else {
      parse_yaml_config(c.document, "<yaml>", host_that_must_not_be_asked());
    }
  });
  EXPECT_EQ(e.key_path(), c.key_path);
  EXPECT_EQ(e.value(), c.value);
  const std::string what = e.what();
  EXPECT_EQ(what.rfind(std::string{c.key_path} + ": \"" + c.value + "\" ", 0), 0u) << what;
  EXPECT_NE(what.find(c.message_part), std::string::npos) << what;
}

constexpr const char* not_a_size = "is not a size; use e.g. 512MB, 4GiB or 30%";
constexpr const char* not_a_duration = "is not a duration; use whole seconds or e.g. 90s, 5m";
constexpr const char* not_a_boolean = "is not a boolean; use true or false";
constexpr const char* not_a_threshold =
    "is not a number greater than 0 and at most 1; use e.g. 0.9";
constexpr const char* cleanup_policies = "is not a cleanup policy; accepted: lru, fifo, time, size";
constexpr const char* not_a_port =
    "is not a whole number from 0 to 65535; use e.g. 9464, or 0 for any free port";
constexpr const char* not_an_address =
    "is not an IPv4 or IPv6 address; use a literal such as 127.0.0.1, 0.0.0.0, ::1 or ::, not a "
    "host name";

INSTANTIATE_TEST_SUITE_P(
    yaml, bad_value,
    ::testing::Values(
        bad_value_case{"memory_size_unit", false, "cache: {memory: {size: 4XB}}",
                       "cache.memory.size", "4XB", not_a_size},
        bad_value_case{"memory_size_zero", false, "cache: {memory: {size: 0}}", "cache.memory.size",
                       "0", not_a_size},
        bad_value_case{"memory_size_negative", false, "cache: {memory: {size: -5}}",
                       "cache.memory.size", "-5", not_a_size},
        bad_value_case{"memory_size_over_100_percent", false, "cache: {memory: {size: 150%}}",
                       "cache.memory.size", "150%", not_a_size},
        bad_value_case{"memory_size_table", false, "cache: {memory: {size: {mb: 1}}}",
                       "cache.memory.size", "{mb: 1}", not_a_size},
        bad_value_case{"profile_eviction", false, "model_cache: {eviction: lfu}",
                       "model_cache.eviction", "lfu",
                       "is not a memory policy; accepted: lru, fifo, s3fifo, sieve, wtinylfu"},
        bad_value_case{"memory_type", false, "cache: {memory: {type: lfu}}", "cache.memory.type",
                       "lfu",
                       "is not a memory policy; accepted: lru, fifo, s3fifo, sieve, wtinylfu"},
        bad_value_case{"policy", false, "cache: {policy: arc}", "cache.policy", "arc",
                       "accepted: lru, fifo, s3fifo, sieve, wtinylfu"},
        bad_value_case{"memory_compression", false, "cache: {memory: {compression: maybe}}",
                       "cache.memory.compression", "maybe", not_a_boolean},
        bad_value_case{"max_items_word", false, "cache: {memory: {max_items: x}}",
                       "cache.memory.max_items", "x",
                       "is not a whole number from 0 to 18446744073709551615"},
        bad_value_case{"max_items_negative", false, "cache: {memory: {max_items: -1}}",
                       "cache.memory.max_items", "-1", "is not a whole number from 0"},
        bad_value_case{"memory_cleanup_interval_ms", false,
                       "cache: {memory: {cleanup_interval: 10ms}}", "cache.memory.cleanup_interval",
                       "10ms", not_a_duration},
        bad_value_case{"memory_cleanup_interval_zero", false,
                       "cache: {memory: {cleanup_interval: 0}}", "cache.memory.cleanup_interval",
                       "0", not_a_duration},
        bad_value_case{"disk_size", false, "cache: {disk: {size: lots}}", "cache.disk.size", "lots",
                       not_a_size},
        bad_value_case{"disk_path_empty", false, "cache: {disk: {path: \"\"}}", "cache.disk.path",
                       "", "is not a directory path"},
        bad_value_case{"disk_cleanup_interval_fraction", false,
                       "cache: {disk: {cleanup_interval: 1.5h}}", "cache.disk.cleanup_interval",
                       "1.5h", not_a_duration},
        bad_value_case{"disk_use_mmap", false, "cache: {disk: {use_mmap: perhaps}}",
                       "cache.disk.use_mmap", "perhaps", not_a_boolean},
        bad_value_case{"disk_reinsertion", false, "cache: {disk: {reinsertion: 2}}",
                       "cache.disk.reinsertion", "2", not_a_boolean},
        bad_value_case{"threshold_zero", false, "cache: {eviction_threshold: 0}",
                       "cache.eviction_threshold", "0", not_a_threshold},
        bad_value_case{"threshold_above_one", false, "cache: {eviction_threshold: 1.5}",
                       "cache.eviction_threshold", "1.5", not_a_threshold},
        bad_value_case{"threshold_negative", false, "cache: {eviction_threshold: -0.1}",
                       "cache.eviction_threshold", "-0.1", not_a_threshold},
        bad_value_case{"threshold_word", false, "cache: {eviction_threshold: high}",
                       "cache.eviction_threshold", "high", not_a_threshold},
        bad_value_case{"threshold_nan", false, "cache: {eviction_threshold: nan}",
                       "cache.eviction_threshold", "nan", not_a_threshold},
        bad_value_case{"memory_floor_word", false,
                       "cache: {resources: {min_available_memory: plenty}}",
                       "cache.resources.min_available_memory", "plenty", not_a_size},
        bad_value_case{"memory_floor_zero", false, "cache: {resources: {min_available_memory: 0}}",
                       "cache.resources.min_available_memory", "0", not_a_size},
        bad_value_case{"memory_floor_over_100_percent", false,
                       "cache: {resources: {min_available_memory: 101%}}",
                       "cache.resources.min_available_memory", "101%", not_a_size},
        bad_value_case{"disk_floor_negative", false, "cache: {resources: {min_free_disk: -1GB}}",
                       "cache.resources.min_free_disk", "-1GB", not_a_size},
        bad_value_case{"disk_floor_list", false, "cache: {resources: {min_free_disk: [1GB]}}",
                       "cache.resources.min_free_disk", "[1GB]", not_a_size},
        bad_value_case{"check_interval_zero", false, "cache: {resources: {check_interval: 0}}",
                       "cache.resources.check_interval", "0", not_a_duration},
        bad_value_case{"check_interval_ms", false, "cache: {resources: {check_interval: 500ms}}",
                       "cache.resources.check_interval", "500ms", not_a_duration},
        bad_value_case{"resources_not_a_table", false, "cache: {resources: low}", "cache.resources",
                       "low",
                       "is not a table; use a table with keys min_available_memory, "
                       "min_free_disk, check_interval"},
        bad_value_case{"metrics_port_too_big", false, "cache: {metrics: {port: 65536}}",
                       "cache.metrics.port", "65536", not_a_port},
        bad_value_case{"metrics_port_negative", false, "cache: {metrics: {port: -1}}",
                       "cache.metrics.port", "-1", not_a_port},
        bad_value_case{"metrics_port_word", false, "cache: {metrics: {port: http}}",
                       "cache.metrics.port", "http", not_a_port},
        bad_value_case{"metrics_port_fraction", false, "cache: {metrics: {port: 80.5}}",
                       "cache.metrics.port", "80.5", not_a_port},
        bad_value_case{"metrics_address_host_name", false, "cache: {metrics: {address: localhost}}",
                       "cache.metrics.address", "localhost", not_an_address},
        bad_value_case{"metrics_address_octet_too_big", false,
                       "cache: {metrics: {address: 256.0.0.1}}", "cache.metrics.address",
                       "256.0.0.1", not_an_address},
        bad_value_case{"metrics_address_with_port", false,
                       "cache: {metrics: {address: \"127.0.0.1:9464\"}}", "cache.metrics.address",
                       "127.0.0.1:9464", not_an_address},
        bad_value_case{"metrics_address_bracketed", false, "cache: {metrics: {address: \"[::1]\"}}",
                       "cache.metrics.address", "[::1]", not_an_address},
        bad_value_case{"metrics_address_empty", false, "cache: {metrics: {address: \"\"}}",
                       "cache.metrics.address", "", not_an_address},
        bad_value_case{"metrics_enabled", false, "cache: {metrics: {enabled: sometimes}}",
                       "cache.metrics.enabled", "sometimes", not_a_boolean},
        bad_value_case{"metrics_not_a_table", false, "cache: {metrics: 9464}", "cache.metrics",
                       "9464", "is not a table; use a table with keys enabled, address, port"},
        bad_value_case{"model_size", false, "model_cache: {size: big}", "model_cache.size", "big",
                       not_a_size},
        bad_value_case{"model_format", false, "model_cache: {format: pt}", "model_cache.format",
                       "pt", "is not a supported model format; accepted: safetensors"},
        bad_value_case{"model_compression", false, "model_cache: {compression: maybe}",
                       "model_cache.compression", "maybe", not_a_boolean},
        bad_value_case{"model_cleanup_policy", false, "model_cache: {cleanup_policy: random}",
                       "model_cache.cleanup_policy", "random", cleanup_policies},
        bad_value_case{"training_size", false, "training_cache: {size: 0MB}", "training_cache.size",
                       "0MB", not_a_size},
        bad_value_case{"batch_buffer_zero", false, "training_cache: {batch_buffer: 0}",
                       "training_cache.batch_buffer", "0",
                       "is not a whole number from 1 to 4294967295; use e.g. 32"},
        bad_value_case{"batch_buffer_too_big", false, "training_cache: {batch_buffer: 4294967296}",
                       "training_cache.batch_buffer", "4294967296", "from 1 to 4294967295"},
        bad_value_case{"prefetch_word", false, "training_cache: {prefetch: x}",
                       "training_cache.prefetch", "x",
                       "is not a whole number from 0 to 4294967295; use e.g. 4"},
        bad_value_case{"prefetch_negative", false, "training_cache: {prefetch: -1}",
                       "training_cache.prefetch", "-1", "from 0 to 4294967295"},
        bad_value_case{"prefetch_fraction", false, "training_cache: {prefetch: 2.5}",
                       "training_cache.prefetch", "2.5", "from 0 to 4294967295"},
        bad_value_case{"training_cleanup_policy", false, "training_cache: {cleanup_policy: lfu}",
                       "training_cache.cleanup_policy", "lfu", cleanup_policies},
        bad_value_case{"system_size", false, "system_cache: {size: \"\"}", "system_cache.size", "",
                       not_a_size},
        bad_value_case{"memory_size_null", false, "cache: {memory: {size: ~}}", "cache.memory.size",
                       "", not_a_size},
        bad_value_case{"system_temp_dir_list", false, "system_cache: {temp_dir: [a, b]}",
                       "system_cache.temp_dir", "[a, b]", "is not a directory path"},
        bad_value_case{"system_max_age", false, "system_cache: {max_age: forever}",
                       "system_cache.max_age", "forever", not_a_duration},
        bad_value_case{"system_cleanup_policy", false, "system_cache: {cleanup_policy: never}",
                       "system_cache.cleanup_policy", "never", cleanup_policies},
        bad_value_case{"log_level", false, "logging: {level: verbose}", "logging.level", "verbose",
                       "is not a log level; accepted: trace, debug, info, warn, error, critical, "
                       "off"},
        bad_value_case{"cache_not_a_table", false, "cache: 5", "cache", "5",
                       "is not a table; use a table with keys memory, disk, policy, "
                       "eviction_threshold, resources, metrics, remote"},
        bad_value_case{"memory_not_a_table", false, "cache: {memory: big}", "cache.memory", "big",
                       "is not a table; use a table with keys size, type, compression, "
                       "max_items, cleanup_interval"},
        bad_value_case{"model_cache_list", false, "model_cache: [1, 2]", "model_cache", "[1, 2]",
                       "is not a table"},
        bad_value_case{"logging_not_a_table", false, "logging: debug", "logging", "debug",
                       "is not a table; use a table with keys level"}),
    [](const auto& info) { return std::string{info.param.name}; });

INSTANTIATE_TEST_SUITE_P(
    toml, bad_value,
    ::testing::Values(
        bad_value_case{"memory_size_unit", true, "[cache]\nmemory_size = \"4XB\"",
                       "cache.memory_size", "4XB", not_a_size},
        bad_value_case{"memory_size_boolean", true, "[cache]\nmemory_size = true",
                       "cache.memory_size", "true", not_a_size},
        bad_value_case{"disk_size_negative", true, "[cache]\ndisk_size = -100", "cache.disk_size",
                       "-100", not_a_size},
        bad_value_case{"policy_number", true, "[cache]\npolicy = 1", "cache.policy", "1",
                       "accepted: lru, fifo, s3fifo, sieve, wtinylfu"},
        bad_value_case{"threshold_string", true, "[cache]\neviction_threshold = \"0.9\"",
                       "cache.eviction_threshold", "0.9", not_a_threshold},
        bad_value_case{"compression_string", true, "[cache.memory]\ncompression = \"true\"",
                       "cache.memory.compression", "true", not_a_boolean},
        bad_value_case{"max_items_string", true, "[cache.memory]\nmax_items = \"1000\"",
                       "cache.memory.max_items", "1000", "is not a whole number"},
        bad_value_case{"max_items_float", true, "[cache.memory]\nmax_items = 10.0",
                       "cache.memory.max_items", "10.0", "is not a whole number"},
        bad_value_case{"cleanup_interval_float", true, "[cache.memory]\ncleanup_interval = 300.0",
                       "cache.memory.cleanup_interval", "300.0", not_a_duration},
        bad_value_case{"disk_path_number", true, "[cache.disk]\npath = 5", "cache.disk.path", "5",
                       "is not a directory path"},
        bad_value_case{"use_mmap_number", true, "[cache.disk]\nuse_mmap = 1", "cache.disk.use_mmap",
                       "1", not_a_boolean},
        bad_value_case{"max_age_date", true, "[system_cache]\nmax_age = 1979-05-27",
                       "system_cache.max_age", "1979-05-27", not_a_duration},
        bad_value_case{"prefetch_string", true, "[training_cache]\nprefetch = \"x\"",
                       "training_cache.prefetch", "x", "is not a whole number"},
        bad_value_case{"level_number", true, "[logging]\nlevel = 3", "logging.level", "3",
                       "is not a log level"},
        bad_value_case{"memory_floor_boolean", true,
                       "[cache.resources]\nmin_available_memory = false",
                       "cache.resources.min_available_memory", "false", not_a_size},
        bad_value_case{"disk_floor_unit", true, "[cache.resources]\nmin_free_disk = \"1 lot\"",
                       "cache.resources.min_free_disk", "1 lot", not_a_size},
        bad_value_case{"check_interval_float", true, "[cache.resources]\ncheck_interval = 10.0",
                       "cache.resources.check_interval", "10.0", not_a_duration},
        bad_value_case{"metrics_port_string", true, "[cache.metrics]\nport = \"9464\"",
                       "cache.metrics.port", "9464", not_a_port},
        bad_value_case{"metrics_port_too_big", true, "[cache.metrics]\nport = 100000",
                       "cache.metrics.port", "100000", not_a_port},
        bad_value_case{"metrics_address_number", true, "[cache.metrics]\naddress = 127",
                       "cache.metrics.address", "127", not_an_address},
        bad_value_case{"metrics_address_zone_id", true,
                       "[cache.metrics]\naddress = \"fe80::1%eth0\"", "cache.metrics.address",
                       "fe80::1%eth0", not_an_address},
        bad_value_case{"metrics_enabled_string", true, "[cache.metrics]\nenabled = \"true\"",
                       "cache.metrics.enabled", "true", not_a_boolean},
        bad_value_case{"cache_memory_not_a_table", true, "[cache]\nmemory = 5", "cache.memory", "5",
                       "is not a table; use a table with keys max_items, cleanup_interval, "
                       "compression"}),
    [](const auto& info) { return std::string{info.param.name}; });

// An unknown key: the document, the key path its error must name, and the accepted keys listed.
struct unknown_key_case {
  const char* name;
  bool toml;
  const char* document;
  const char* key_path;
  const char* accepted;
};

void PrintTo(const unknown_key_case& c, std::ostream* os) {
  *os << c.name;
}

class unknown_key : public ::testing::TestWithParam<unknown_key_case> {};

TEST_P(unknown_key, is_refused_listing_the_accepted_keys_of_its_level) {
  const unknown_key_case& c = GetParam();
  const config_error e = error_from([&] {
    if (c.toml) {
      parse_toml_config(c.document);
    } else {
      parse_yaml_config(c.document);
    }
  });
  EXPECT_EQ(e.key_path(), c.key_path);
  EXPECT_EQ(std::string{e.what()},
            std::string{c.key_path} + ": unknown key; accepted keys: " + c.accepted);
}

INSTANTIATE_TEST_SUITE_P(
    levels, unknown_key,
    ::testing::Values(
        unknown_key_case{"yaml_top", false, "cahce: {}", "cahce",
                         "cache, model_cache, training_cache, system_cache, logging"},
        unknown_key_case{"yaml_cache", false, "cache: {memroy: {size: 1}}", "cache.memroy",
                         "memory, disk, policy, eviction_threshold, resources, metrics, remote"},
        unknown_key_case{"yaml_cache_toml_key", false, "cache: {memory_size: 4GB}",
                         "cache.memory_size",
                         "memory, disk, policy, eviction_threshold, resources, metrics, remote"},
        unknown_key_case{"yaml_resources", false, "cache: {resources: {min_memory: 1GB}}",
                         "cache.resources.min_memory",
                         "min_available_memory, min_free_disk, check_interval"},
        unknown_key_case{"yaml_metrics", false, "cache: {metrics: {host: 0.0.0.0}}",
                         "cache.metrics.host", "enabled, address, port"},
        unknown_key_case{"yaml_memory", false, "cache: {memory: {sise: 1}}", "cache.memory.sise",
                         "size, type, compression, max_items, cleanup_interval"},
        unknown_key_case{"yaml_disk", false, "cache: {disk: {pth: x}}", "cache.disk.pth",
                         "size, path, cleanup_interval, use_mmap, reinsertion"},
        unknown_key_case{"yaml_model_cache", false, "model_cache: {fmt: x}", "model_cache.fmt",
                         "size, format, compression, cleanup_policy, eviction, remote"},
        unknown_key_case{"yaml_training_cache", false, "training_cache: {prefetchh: 1}",
                         "training_cache.prefetchh",
                         "size, batch_buffer, prefetch, cleanup_policy, eviction, remote"},
        unknown_key_case{"yaml_system_cache", false, "system_cache: {tmp: x}", "system_cache.tmp",
                         "size, temp_dir, max_age, cleanup_policy, eviction, remote"},
        unknown_key_case{"yaml_logging", false, "logging: {lvl: info}", "logging.lvl", "level"},
        unknown_key_case{"toml_top", true, "[caches]\npolicy = \"lru\"", "caches",
                         "cache, model_cache, training_cache, system_cache, logging"},
        unknown_key_case{"toml_cache", true, "[cache]\nmemroy_size = \"1GB\"", "cache.memroy_size",
                         "memory_size, disk_size, policy, eviction_threshold, memory, disk, "
                         "resources, metrics, remote"},
        unknown_key_case{"toml_resources", true, "[cache.resources]\ninterval = 10",
                         "cache.resources.interval",
                         "min_available_memory, min_free_disk, check_interval"},
        unknown_key_case{"toml_metrics", true, "[cache.metrics]\npath = \"/metrics\"",
                         "cache.metrics.path", "enabled, address, port"},
        unknown_key_case{"toml_memory", true, "[cache.memory]\nsize = 1", "cache.memory.size",
                         "max_items, cleanup_interval, compression"},
        unknown_key_case{"toml_disk", true, "[cache.disk]\nsize = 1", "cache.disk.size",
                         "path, use_mmap, cleanup_interval, reinsertion"},
        unknown_key_case{"toml_profile", true, "[training_cache]\nbatch = 1",
                         "training_cache.batch",
                         "size, batch_buffer, prefetch, cleanup_policy, eviction, remote"},
        unknown_key_case{"toml_logging", true, "[logging]\nfile = \"x\"", "logging.file", "level"}),
    [](const auto& info) { return std::string{info.param.name}; });

TEST(unknown_key, message_matches_the_design_example) {
  const config_error e = error_from([] { parse_yaml_config("cache:\n  memroy:\n    size: 1\n"); });
  EXPECT_STREQ(
      e.what(),
      "cache.memroy: unknown key; accepted keys: memory, disk, policy, eviction_threshold, "
      "resources, metrics, remote");
}

// The remote tier's block (issue 9): every key in both forms, the forms of nodes, and the
// profiles' own `remote:`.

TEST(remote_config, absent_block_keeps_the_defaults) {
  const cache_config cfg =
      parse_yaml_config("cache: {metrics: {port: 0}}\nmodel_cache: {eviction: lru}\n");
  expect_remote_defaults(cfg);
  EXPECT_EQ(parse_toml_config("[cache.metrics]\nport = 0\n").remote, remote_config{});
}

TEST(remote_config, yaml_block_sets_every_key) {
  const cache_config cfg = parse_yaml_config(R"(
cache:
  remote:
    enabled: true
    nodes: ["10.0.0.1:6379", "redis-2.internal:7000", "[::1]:6380"]
    user: trainer
    password: "s3cret pw"
    key_prefix: team-a.v2_x
    mode: read_only
    request_timeout: 250ms
    connect_timeout: 2s
    connections_per_node: 8
    max_value_size: 16MiB
    large_values: skip
    chunk_size: 256KiB
    breaker_failures: 10
    breaker_open_for: 1m
)",
                                             "<yaml>", host_that_must_not_be_asked());
  const remote_config& r = cfg.remote;
  EXPECT_TRUE(r.enabled);
  EXPECT_EQ(r.nodes,
            (std::vector<std::string>{"10.0.0.1:6379", "redis-2.internal:7000", "[::1]:6380"}));
  EXPECT_EQ(r.user, "trainer");
  EXPECT_EQ(r.password, "s3cret pw");
  EXPECT_EQ(r.key_prefix, "team-a.v2_x");
  EXPECT_EQ(r.mode, remote_use::read_only);
  EXPECT_EQ(r.request_timeout, milliseconds{250});
  EXPECT_EQ(r.connect_timeout, milliseconds{2000});
  EXPECT_EQ(r.connections_per_node, 8u);
  EXPECT_EQ(r.max_value_size, 16 * mib);
  EXPECT_EQ(r.large_values, large_value_policy::skip);
  EXPECT_EQ(r.chunk_size, 256u * 1024);
  EXPECT_EQ(r.breaker_failures, 10u);
  EXPECT_EQ(r.breaker_open_for, milliseconds{60'000});
  cache_config rest = cfg;
  rest.remote = remote_config{};
  EXPECT_EQ(rest, default_config()) << "the block changes nothing outside cache.remote";
}

TEST(remote_config, toml_table_sets_every_key) {
  const cache_config cfg = parse_toml_config(R"(
[cache.remote]
enabled = true
nodes = ["10.0.0.1:6379", "10.0.0.2:6379"]
user = "trainer"
password = "hunter2"
key_prefix = "larder-prod"
mode = "read_write"
request_timeout = "50ms"
connect_timeout = 3
connections_per_node = 64
max_value_size = "2GiB"
large_values = "chunk"
chunk_size = "512MiB"
breaker_failures = 1000
breaker_open_for = "500ms"
)",
                                             "<toml>", host_that_must_not_be_asked());
  const remote_config& r = cfg.remote;
  EXPECT_TRUE(r.enabled);
  EXPECT_EQ(r.nodes, (std::vector<std::string>{"10.0.0.1:6379", "10.0.0.2:6379"}));
  EXPECT_EQ(r.user, "trainer");
  EXPECT_EQ(r.password, "hunter2");
  EXPECT_EQ(r.key_prefix, "larder-prod");
  EXPECT_EQ(r.mode, remote_use::read_write);
  EXPECT_EQ(r.request_timeout, milliseconds{50});
  EXPECT_EQ(r.connect_timeout, milliseconds{3000});
  EXPECT_EQ(r.connections_per_node, 64u);
  EXPECT_EQ(r.max_value_size, 2 * gib);
  EXPECT_EQ(r.large_values, large_value_policy::chunk);
  EXPECT_EQ(r.chunk_size, 512 * mib);
  EXPECT_EQ(r.breaker_failures, 1000u);
  EXPECT_EQ(r.breaker_open_for, milliseconds{500});
}

TEST(remote_config, value_sizes_at_their_limits) {
  // 4GiB itself is refused (see remote_error); the largest accepted is 4GiB - 1 byte.
  EXPECT_EQ(
      parse_toml_config("[cache.remote]\nmax_value_size = \"4294967295B\"\n").remote.max_value_size,
      4 * gib - 1);
  EXPECT_EQ(parse_toml_config("[cache.remote]\nchunk_size = \"4KiB\"\n").remote.chunk_size, 4096u);
}

TEST(remote_config, nodes_may_be_one_comma_separated_string) {
  EXPECT_EQ(
      parse_yaml_config("cache: {remote: {nodes: \"10.0.0.1:6379, 10.0.0.2:6379\"}}").remote.nodes,
      (std::vector<std::string>{"10.0.0.1:6379", "10.0.0.2:6379"}));
  EXPECT_EQ(parse_yaml_config("cache: {remote: {nodes: redis:6379}}").remote.nodes,
            std::vector<std::string>{"redis:6379"});
  EXPECT_EQ(parse_toml_config("[cache.remote]\nnodes = \"a.b:1,[fe80::1]:65535\"\n").remote.nodes,
            (std::vector<std::string>{"a.b:1", "[fe80::1]:65535"}));
}

TEST(remote_config, words_ignore_case_and_durations_take_every_unit) {
  const cache_config cfg = parse_yaml_config(
      "cache: {remote: {mode: READ_ONLY, large_values: Skip, request_timeout: 1, "
      "connect_timeout: 1h, breaker_open_for: 1d}}");
  EXPECT_EQ(cfg.remote.mode, remote_use::read_only);
  EXPECT_EQ(cfg.remote.large_values, large_value_policy::skip);
  EXPECT_EQ(cfg.remote.request_timeout, milliseconds{1000}) << "a bare number is seconds";
  EXPECT_EQ(cfg.remote.connect_timeout, milliseconds{3'600'000});
  EXPECT_EQ(cfg.remote.breaker_open_for, milliseconds{86'400'000});
}

TEST(remote_config, empty_user_and_password_mean_none) {
  const cache_config cfg = parse_yaml_config("cache: {remote: {user: , password: \"\"}}");
  EXPECT_EQ(cfg.remote.user, "");
  EXPECT_EQ(cfg.remote.password, "");
  EXPECT_EQ(parse_yaml_config("cache:\n  remote:\n    password:\n").remote.password, "");
}

TEST(remote_config, password_is_kept_as_written) {
  EXPECT_EQ(parse_yaml_config("cache: {remote: {password: \" a:b{c} \"}}").remote.password,
            " a:b{c} ");
  EXPECT_EQ(parse_yaml_config("cache: {remote: {password: 12345}}").remote.password, "12345")
      << "YAML leaves scalars untyped";
}

TEST(remote_config, profiles_say_how_they_use_the_tier_in_yaml) {
  const cache_config cfg = parse_yaml_config(R"(
model_cache: {remote: read_only}
training_cache: {remote: "off"}
system_cache: {remote: read_write}
)");
  EXPECT_EQ(cfg.model_cache.remote, remote_use::read_only);
  EXPECT_EQ(cfg.training_cache.remote, remote_use::off);
  EXPECT_EQ(cfg.system_cache.remote, remote_use::read_write);
  EXPECT_EQ(parse_yaml_config("training_cache:\n  remote: off\n").training_cache.remote,
            remote_use::off)
      << "an unquoted off is the word, not YAML 1.1's boolean";
}

TEST(remote_config, profiles_say_how_they_use_the_tier_in_toml) {
  const cache_config cfg = parse_toml_config(R"(
[model_cache]
remote = "off"
[training_cache]
remote = "read_only"
[system_cache]
remote = "read_write"
)");
  EXPECT_EQ(cfg.model_cache.remote, remote_use::off);
  EXPECT_EQ(cfg.training_cache.remote, remote_use::read_only);
  EXPECT_EQ(cfg.system_cache.remote, remote_use::read_write);
}

// TLS to the nodes (cache.remote.tls): files are checked when the configuration is read.
// `tls = true` where a table belongs is refused, naming what the table takes.
TEST(remote_tls_config, is_a_table) {
  const config_error e =
      error_from([] { parse_toml_config("[cache.remote]\ntls = true", "<toml>"); });
  EXPECT_EQ(std::string{e.what()},
            "cache.remote.tls: \"true\" is not a table; use a table with keys enabled, ca_file, "
            "cert_file, key_file, server_name, verify_peer");
}

class remote_tls_config_test : public ::testing::Test {
 protected:
  std::string file(const std::string& name) {
    const auto path = dir_.path() / name;
    std::ofstream(path) << "-----BEGIN CERTIFICATE-----\n";
    return path.string();
  }
  testing::scratch_directory dir_;
};

TEST_F(remote_tls_config_test, is_off_by_default_and_every_key_is_read_in_both_forms) {
  EXPECT_EQ(default_config().remote.tls, remote_tls_config{});
  EXPECT_FALSE(default_config().remote.tls.enabled);
  const std::string ca = file("ca.pem"), cert = file("client.pem"), key = file("client.key");
  const cache_config yaml =
      parse_yaml_config("cache:\n  remote:\n    tls:\n      enabled: true\n      ca_file: " + ca +
                        "\n      cert_file: " + cert + "\n      key_file: " + key +
                        "\n      server_name: redis.internal\n      verify_peer: false\n");
  const cache_config toml = parse_toml_config(
      "[cache.remote.tls]\nenabled = true\nca_file = \"" + ca + "\"\ncert_file = \"" + cert +
      "\"\nkey_file = \"" + key + "\"\nserver_name = \"redis.internal\"\nverify_peer = false\n");
  for (const cache_config& cfg : {yaml, toml}) {
    const remote_tls_config& t = cfg.remote.tls;
    EXPECT_TRUE(t.enabled);
    EXPECT_EQ(t.ca_file, ca);
    EXPECT_EQ(t.cert_file, cert);
    EXPECT_EQ(t.key_file, key);
    EXPECT_EQ(t.server_name, "redis.internal");
    EXPECT_FALSE(t.verify_peer);
  }
  // An IP address is a server name a certificate can hold.
  EXPECT_EQ(
      parse_yaml_config("cache: {remote: {tls: {server_name: \"::1\"}}}").remote.tls.server_name,
      "::1");
}

TEST_F(remote_tls_config_test, bad_values_name_the_key) {
  const std::string missing = (dir_.path() / "absent.pem").string();
  const config_error absent = error_from(
      [&] { parse_yaml_config("cache: {remote: {tls: {ca_file: \"" + missing + "\"}}}"); });
  EXPECT_EQ(absent.key_path(), "cache.remote.tls.ca_file");
  EXPECT_EQ(std::string{absent.what()},
            "cache.remote.tls.ca_file: \"" + missing +
                "\" cannot be read (No such file or directory); give the path of a PEM file of "
                "the certificate authorities to trust");

  const std::string cert = file("client.pem");
  const config_error half = error_from(
      [&] { parse_yaml_config("cache: {remote: {tls: {cert_file: \"" + cert + "\"}}}"); });
  EXPECT_EQ(std::string{half.what()},
            "cache.remote.tls.key_file: is missing: a client certificate needs both cert_file and "
            "key_file");

  const config_error name =
      error_from([&] { parse_yaml_config("cache: {remote: {tls: {server_name: \"redis_1!\"}}}"); });
  EXPECT_EQ(std::string{name.what()},
            "cache.remote.tls.server_name: \"redis_1!\" is not a host name or IP address; use the "
            "name the server's certificate holds, e.g. redis.internal or 10.0.0.5");

  const config_error unknown =
      error_from([&] { parse_yaml_config("cache: {remote: {tls: {ca: x}}}"); });
  EXPECT_EQ(std::string{unknown.what()},
            "cache.remote.tls.ca: unknown key; accepted keys: enabled, ca_file, cert_file, "
            "key_file, server_name, verify_peer");
}

// A bad remote setting and the exact message it must produce.
struct remote_error_case {
  const char* name;
  bool toml;
  const char* document;
  const char* key_path;
  const char* what;
};

void PrintTo(const remote_error_case& c, std::ostream* os) {
  *os << c.name;
}

class remote_error : public ::testing::TestWithParam<remote_error_case> {};

TEST_P(remote_error, is_refused_with_the_exact_message) {
  const remote_error_case& c = GetParam();
  const config_error e = error_from([&] {
    if (c.toml) {
      parse_toml_config(c.document, "<toml>", host_that_must_not_be_asked());
    } else {
      parse_yaml_config(c.document, "<yaml>", host_that_must_not_be_asked());
    }
  });
  EXPECT_EQ(e.key_path(), c.key_path);
  EXPECT_EQ(std::string{e.what()}, c.what);
}

INSTANTIATE_TEST_SUITE_P(
    yaml, remote_error,
    ::testing::Values(
        remote_error_case{"enabled", false, "cache: {remote: {enabled: maybe}}",
                          "cache.remote.enabled",
                          R"(cache.remote.enabled: "maybe" is not a boolean; use true or false)"},
        remote_error_case{"node_port_too_big", false,
                          "cache: {remote: {nodes: [\"127.0.0.1:6379\", \"localhost:99999\"]}}",
                          "cache.remote.nodes[1]",
                          "cache.remote.nodes[1]: \"localhost:99999\" is not host:port with a "
                          "port from 1 to 65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 "
                          "or [::1]:6379"},
        remote_error_case{"node_port_zero", false, "cache: {remote: {nodes: [\"redis:0\"]}}",
                          "cache.remote.nodes[0]",
                          "cache.remote.nodes[0]: \"redis:0\""
                          " is not host:port with a port from 1 to "
                          "65535; use e.g. 127.0.0.1:6379, "
                          "redis-1.internal:6379 or [::1]:6379"},
        remote_error_case{"node_without_port", false, "cache: {remote: {nodes: [redis]}}",
                          "cache.remote.nodes[0]",
                          "cache.remote.nodes[0]: \"redis\" is not host:port with a port from 1 "
                          "to 65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 or "
                          "[::1]:6379"},
        remote_error_case{"node_without_host", false, "cache: {remote: {nodes: [\":6379\"]}}",
                          "cache.remote.nodes[0]",
                          "cache.remote.nodes[0]: \":6379\" is not host:port with a port from 1 "
                          "to 65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 or "
                          "[::1]:6379"},
        remote_error_case{"node_ipv6_unbracketed", false,
                          "cache: {remote: {nodes: [\"::1:6379\"]}}", "cache.remote.nodes[0]",
                          "cache.remote.nodes[0]: \"::1:6379\" is not host:port with a port from "
                          "1 to 65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 or "
                          "[::1]:6379"},
        remote_error_case{"node_bad_ipv4", false, "cache: {remote: {nodes: [\"256.0.0.1:6379\"]}}",
                          "cache.remote.nodes[0]",
                          "cache.remote.nodes[0]: \"256.0.0.1:6379\" is not host:port with a port "
                          "from 1 to 65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 or "
                          "[::1]:6379"},
        remote_error_case{"node_underscore", false, "cache: {remote: {nodes: [\"redis_1:6379\"]}}",
                          "cache.remote.nodes[0]",
                          "cache.remote.nodes[0]: \"redis_1:6379\" is not host:port with a port "
                          "from 1 to 65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 or "
                          "[::1]:6379"},
        remote_error_case{"node_in_comma_string", false,
                          "cache: {remote: {nodes: \"a:1, b:2,, c:3\"}}", "cache.remote.nodes[2]",
                          "cache.remote.nodes[2]: \"\" is not host:port with a port from 1 to "
                          "65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 or [::1]:6379"},
        remote_error_case{"node_a_table", false, "cache: {remote: {nodes: [{host: a}]}}",
                          "cache.remote.nodes[0]",
                          "cache.remote.nodes[0]: \"{host: a}\" is not host:port with a port "
                          "from 1 to 65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 or "
                          "[::1]:6379"},
        remote_error_case{"nodes_empty_list", false, "cache: {remote: {nodes: []}}",
                          "cache.remote.nodes",
                          "cache.remote.nodes: \"[]\" names no node; give at least one "
                          "host:port, e.g. 127.0.0.1:6379"},
        remote_error_case{"nodes_null", false, "cache:\n  remote:\n    nodes:\n",
                          "cache.remote.nodes",
                          "cache.remote.nodes: \"\" names no node; give at least one host:port, "
                          "e.g. 127.0.0.1:6379"},
        remote_error_case{"nodes_empty_string", false, "cache: {remote: {nodes: \" \"}}",
                          "cache.remote.nodes",
                          "cache.remote.nodes: \"\" names no node; give at least one host:port, "
                          "e.g. 127.0.0.1:6379"},
        remote_error_case{"nodes_a_table", false, "cache: {remote: {nodes: {a: 1}}}",
                          "cache.remote.nodes",
                          "cache.remote.nodes: \"{a: 1}\" is not a list of host:port; use e.g. "
                          "[\"10.0.0.1:6379\", \"10.0.0.2:6379\"] or "
                          "\"10.0.0.1:6379,10.0.0.2:6379\""},
        remote_error_case{"user_a_list", false, "cache: {remote: {user: [a]}}", "cache.remote.user",
                          "cache.remote.user: \"[a]\" is not a string; write the user name in "
                          "quotes"},
        remote_error_case{"key_prefix_colon", false, "cache: {remote: {key_prefix: \"a:b\"}}",
                          "cache.remote.key_prefix",
                          "cache.remote.key_prefix: \"a:b\" is not a key prefix; use 1 to 64 "
                          "letters, digits, '.', '_' or '-', e.g. larder"},
        remote_error_case{"key_prefix_brace", false, "cache: {remote: {key_prefix: \"a{b}\"}}",
                          "cache.remote.key_prefix",
                          "cache.remote.key_prefix: \"a{b}\" is not a key prefix; use 1 to 64 "
                          "letters, digits, '.', '_' or '-', e.g. larder"},
        remote_error_case{"key_prefix_empty", false, "cache: {remote: {key_prefix: \"\"}}",
                          "cache.remote.key_prefix",
                          "cache.remote.key_prefix: \"\" is not a key prefix; use 1 to 64 "
                          "letters, digits, '.', '_' or '-', e.g. larder"},
        remote_error_case{
            "key_prefix_65_chars", false,
            "cache: {remote: {key_prefix: "
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}",
            "cache.remote.key_prefix",
            "cache.remote.key_prefix: "
            "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is "
            "not a key prefix; use 1 to 64 letters, digits, '.', '_' or '-', e.g. "
            "larder"},
        remote_error_case{"mode_off", false, "cache: {remote: {mode: off}}", "cache.remote.mode",
                          "cache.remote.mode: \"off\" is not a mode: to turn the remote tier off, "
                          "set cache.remote.enabled to false; accepted: read_write, read_only"},
        remote_error_case{"mode_word", false, "cache: {remote: {mode: write_only}}",
                          "cache.remote.mode",
                          "cache.remote.mode: \"write_only\" is not a remote mode; accepted: "
                          "read_write, read_only"},
        remote_error_case{"request_timeout_zero", false, "cache: {remote: {request_timeout: 0ms}}",
                          "cache.remote.request_timeout",
                          "cache.remote.request_timeout: \"0ms\" is not a duration; use whole "
                          "seconds or e.g. 100ms, 2s, 1m"},
        remote_error_case{"request_timeout_fraction", false,
                          "cache: {remote: {request_timeout: 0.5s}}",
                          "cache.remote.request_timeout",
                          "cache.remote.request_timeout: \"0.5s\" is not a duration; use whole "
                          "seconds or e.g. 100ms, 2s, 1m"},
        remote_error_case{"connect_timeout_unit", false, "cache: {remote: {connect_timeout: 1us}}",
                          "cache.remote.connect_timeout",
                          "cache.remote.connect_timeout: \"1us\" is not a duration; use whole "
                          "seconds or e.g. 100ms, 2s, 1m"},
        remote_error_case{"connections_zero", false, "cache: {remote: {connections_per_node: 0}}",
                          "cache.remote.connections_per_node",
                          "cache.remote.connections_per_node: \"0\" is not a whole number from 1 "
                          "to 64; use e.g. 2"},
        remote_error_case{"connections_65", false, "cache: {remote: {connections_per_node: 65}}",
                          "cache.remote.connections_per_node",
                          "cache.remote.connections_per_node: \"65\" is not a whole number from 1 "
                          "to 64; use e.g. 2"},
        remote_error_case{"max_value_size_percentage", false,
                          "cache: {remote: {max_value_size: 30%}}", "cache.remote.max_value_size",
                          "cache.remote.max_value_size: \"30%\" is a percentage, which a value "
                          "size cannot be; use an absolute size, e.g. 1MiB"},
        remote_error_case{"max_value_size_4gib", false, "cache: {remote: {max_value_size: 4GiB}}",
                          "cache.remote.max_value_size",
                          "cache.remote.max_value_size: \"4GiB\" is over 4GiB - 1 byte, the "
                          "largest value the remote entry format records; use e.g. 64MiB"},
        remote_error_case{"max_value_size_word", false, "cache: {remote: {max_value_size: big}}",
                          "cache.remote.max_value_size",
                          "cache.remote.max_value_size: \"big\" is not a size; use e.g. 512MB, "
                          "4GiB or 30%"},
        remote_error_case{"chunk_size_percentage", false, "cache: {remote: {chunk_size: 1%}}",
                          "cache.remote.chunk_size",
                          "cache.remote.chunk_size: \"1%\" is a percentage, which a value size "
                          "cannot be; use an absolute size, e.g. 1MiB"},
        remote_error_case{"chunk_size_too_small", false, "cache: {remote: {chunk_size: 4095B}}",
                          "cache.remote.chunk_size",
                          "cache.remote.chunk_size: \"4095B\" is not a size from 4KiB to 512MiB "
                          "(the largest Redis bulk string by default); use e.g. 1MiB"},
        remote_error_case{"chunk_size_too_big", false, "cache: {remote: {chunk_size: 1GB}}",
                          "cache.remote.chunk_size",
                          "cache.remote.chunk_size: \"1GB\" is not a size from 4KiB to 512MiB "
                          "(the largest Redis bulk string by default); use e.g. 1MiB"},
        remote_error_case{"large_values", false, "cache: {remote: {large_values: split}}",
                          "cache.remote.large_values",
                          "cache.remote.large_values: \"split\" is not a large-value policy; "
                          "accepted: chunk, skip"},
        remote_error_case{"breaker_failures_zero", false, "cache: {remote: {breaker_failures: 0}}",
                          "cache.remote.breaker_failures",
                          "cache.remote.breaker_failures: \"0\" is not a whole number from 1 to "
                          "1000; use e.g. 5"},
        remote_error_case{"breaker_failures_1001", false,
                          "cache: {remote: {breaker_failures: 1001}}",
                          "cache.remote.breaker_failures",
                          "cache.remote.breaker_failures: \"1001\" is not a whole number from 1 to "
                          "1000; use e.g. 5"},
        remote_error_case{"breaker_open_for_negative", false,
                          "cache: {remote: {breaker_open_for: -5s}}",
                          "cache.remote.breaker_open_for",
                          "cache.remote.breaker_open_for: \"-5s\" is not a duration; use whole "
                          "seconds or e.g. 100ms, 2s, 1m"},
        remote_error_case{"remote_not_a_table", false, "cache: {remote: redis:6379}",
                          "cache.remote",
                          "cache.remote: \"redis:6379\" is not a table; use a table with keys "
                          "enabled, nodes, user, password, key_prefix, mode, request_timeout, "
                          "connect_timeout, connections_per_node, max_value_size, large_values, "
                          "chunk_size, breaker_failures, breaker_open_for, tls"},
        remote_error_case{"unknown_key", false, "cache: {remote: {host: redis}}",
                          "cache.remote.host",
                          "cache.remote.host: unknown key; accepted keys: enabled, nodes, user, "
                          "password, key_prefix, mode, request_timeout, connect_timeout, "
                          "connections_per_node, max_value_size, large_values, chunk_size, "
                          "breaker_failures, breaker_open_for, tls"},
        remote_error_case{"profile_remote", false, "model_cache: {remote: yes}",
                          "model_cache.remote",
                          "model_cache.remote: \"yes\" is not a remote use; accepted: read_write, "
                          "read_only, off"}),
    [](const auto& info) { return std::string{info.param.name}; });

INSTANTIATE_TEST_SUITE_P(
    toml, remote_error,
    ::testing::Values(
        remote_error_case{"enabled_string", true, "[cache.remote]\nenabled = \"true\"",
                          "cache.remote.enabled",
                          R"(cache.remote.enabled: "true" is not a boolean; use true or false)"},
        remote_error_case{"node_number", true, "[cache.remote]\nnodes = [\"a:1\", 6379]",
                          "cache.remote.nodes[1]",
                          "cache.remote.nodes[1]: \"6379\" is not host:port with a port from 1 to "
                          "65535; use e.g. 127.0.0.1:6379, redis-1.internal:6379 or [::1]:6379"},
        remote_error_case{"nodes_number", true, "[cache.remote]\nnodes = 6379",
                          "cache.remote.nodes",
                          "cache.remote.nodes: \"6379\" is not a list of host:port; use e.g. "
                          "[\"10.0.0.1:6379\", \"10.0.0.2:6379\"] or "
                          "\"10.0.0.1:6379,10.0.0.2:6379\""},
        remote_error_case{"nodes_empty", true, "[cache.remote]\nnodes = []", "cache.remote.nodes",
                          "cache.remote.nodes: \"[]\" names no node; give at least one "
                          "host:port, e.g. 127.0.0.1:6379"},
        remote_error_case{"user_number", true, "[cache.remote]\nuser = 7", "cache.remote.user",
                          "cache.remote.user: \"7\" is not a string; write the user name in "
                          "quotes"},
        remote_error_case{"key_prefix_number", true, "[cache.remote]\nkey_prefix = 1",
                          "cache.remote.key_prefix",
                          "cache.remote.key_prefix: \"1\" is not a key prefix; use 1 to 64 "
                          "letters, digits, '.', '_' or '-', e.g. larder"},
        remote_error_case{"mode_off", true, "[cache.remote]\nmode = \"off\"", "cache.remote.mode",
                          "cache.remote.mode: \"off\" is not a mode: to turn the remote tier off, "
                          "set cache.remote.enabled to false; accepted: read_write, read_only"},
        remote_error_case{"request_timeout_float", true, "[cache.remote]\nrequest_timeout = 0.1",
                          "cache.remote.request_timeout",
                          "cache.remote.request_timeout: \"0.1\" is not a duration; use whole "
                          "seconds or e.g. 100ms, 2s, 1m"},
        remote_error_case{"connections_string", true,
                          "[cache.remote]\nconnections_per_node = \"2\"",
                          "cache.remote.connections_per_node",
                          "cache.remote.connections_per_node: \"2\" is not a whole number from 1 "
                          "to 64; use e.g. 2"},
        remote_error_case{"chunk_size_bare_number_is_megabytes", true,
                          "[cache.remote]\nchunk_size = 1024", "cache.remote.chunk_size",
                          "cache.remote.chunk_size: \"1024\" is not a size from 4KiB to 512MiB "
                          "(the largest Redis bulk string by default); use e.g. 1MiB"},
        remote_error_case{"max_value_size_percentage", true,
                          "[cache.remote]\nmax_value_size = \"30%\"", "cache.remote.max_value_size",
                          "cache.remote.max_value_size: \"30%\" is a percentage, which a value "
                          "size cannot be; use an absolute size, e.g. 1MiB"},
        remote_error_case{"large_values_boolean", true, "[cache.remote]\nlarge_values = false",
                          "cache.remote.large_values",
                          "cache.remote.large_values: \"false\" is not a large-value policy; "
                          "accepted: chunk, skip"},
        remote_error_case{"breaker_open_for_zero", true, "[cache.remote]\nbreaker_open_for = 0",
                          "cache.remote.breaker_open_for",
                          "cache.remote.breaker_open_for: \"0\" is not a duration; use whole "
                          "seconds or e.g. 100ms, 2s, 1m"},
        remote_error_case{"unknown_key", true, "[cache.remote]\nssl = true", "cache.remote.ssl",
                          "cache.remote.ssl: unknown key; accepted keys: enabled, nodes, user, "
                          "password, key_prefix, mode, request_timeout, connect_timeout, "
                          "connections_per_node, max_value_size, large_values, chunk_size, "
                          "breaker_failures, breaker_open_for, tls"},
        remote_error_case{"profile_remote_boolean", true, "[system_cache]\nremote = false",
                          "system_cache.remote",
                          "system_cache.remote: \"false\" is not a remote use; accepted: "
                          "read_write, read_only, off"},
        remote_error_case{"profile_remote_table", true, "[training_cache.remote]\nmode = \"off\"",
                          "training_cache.remote",
                          "training_cache.remote: \"{mode: off}\" is not a remote use; accepted: "
                          "read_write, read_only, off"}),
    [](const auto& info) { return std::string{info.param.name}; });

// The password is the one value an error must never carry, whatever went wrong around it.
class remote_password_error : public ::testing::TestWithParam<remote_error_case> {};

TEST_P(remote_password_error, never_quotes_the_password) {
  const remote_error_case& c = GetParam();
  const config_error e = error_from([&] {
    if (c.toml) {
      parse_toml_config(c.document);
    } else {
      parse_yaml_config(c.document);
    }
  });
  EXPECT_EQ(e.key_path(), c.key_path);
  EXPECT_EQ(std::string{e.what()}, c.what);
  EXPECT_EQ(std::string{e.what()}.find("hunter2"), std::string::npos) << e.what();
  EXPECT_EQ(e.value().find("hunter2"), std::string::npos) << e.value();
}

INSTANTIATE_TEST_SUITE_P(
    wrong_types_and_neighbours, remote_password_error,
    ::testing::Values(
        remote_error_case{"toml_number", true, "[cache.remote]\npassword = 2024",
                          "cache.remote.password",
                          "cache.remote.password: is not a string (value not shown); write the "
                          "password in quotes"},
        remote_error_case{"toml_list", true, "[cache.remote]\npassword = [\"hunter2-Secret\"]",
                          "cache.remote.password",
                          "cache.remote.password: is not a string (value not shown); write the "
                          "password in quotes"},
        remote_error_case{"yaml_table", false,
                          "cache: {remote: {password: {value: hunter2-Secret}}}",
                          "cache.remote.password",
                          "cache.remote.password: is not a string (value not shown); write the "
                          "password in quotes"},
        remote_error_case{"toml_array_of_tables", true,
                          "[[cache.remote]]\nenabled = true\npassword = \"hunter2-Secret\"",
                          "cache.remote",
                          "cache.remote: \"[{enabled: true, password: (not shown)}]\" is not a "
                          "table; use a table with keys enabled, nodes, user, password, "
                          "key_prefix, mode, request_timeout, connect_timeout, "
                          "connections_per_node, max_value_size, large_values, chunk_size, "
                          "breaker_failures, breaker_open_for, tls"},
        remote_error_case{"yaml_remote_as_list", false,
                          "cache: {remote: [{password: hunter2-Secret}]}", "cache.remote",
                          "cache.remote: \"[{password: (not shown)}]\" is not a table; use a "
                          "table with keys enabled, nodes, user, password, key_prefix, mode, "
                          "request_timeout, connect_timeout, connections_per_node, "
                          "max_value_size, large_values, chunk_size, breaker_failures, "
                          "breaker_open_for, tls"},
        remote_error_case{"yaml_cache_as_list", false,
                          "cache: [{remote: {password: hunter2-Secret}}]", "cache",
                          "cache: \"[{remote: {password: (not shown)}}]\" is not a table; use a "
                          "table with keys memory, disk, policy, eviction_threshold, resources, "
                          "metrics, remote"},
        remote_error_case{"url_with_credentials_in_nodes", false,
                          "cache: {remote: {nodes: [\"a:1\", "
                          "\"redis://u:hunter2-Secret@redis:6379\"]}}",
                          "cache.remote.nodes[1]",
                          "cache.remote.nodes[1]: is not host:port (value not shown: it holds an "
                          "'@', as a URL with a password does); give host:port only, and the "
                          "password as cache.remote.password or CACHE_REMOTE_PASSWORD"},
        remote_error_case{"url_with_credentials_in_node_string", true,
                          "[cache.remote]\nnodes = \"redis://:hunter2-Secret@redis:6379\"",
                          "cache.remote.nodes[0]",
                          "cache.remote.nodes[0]: is not host:port (value not shown: it holds an "
                          "'@', as a URL with a password does); give host:port only, and the "
                          "password as cache.remote.password or CACHE_REMOTE_PASSWORD"},
        remote_error_case{"bad_neighbour", false,
                          "cache: {remote: {password: hunter2-Secret, mode: off}}",
                          "cache.remote.mode",
                          "cache.remote.mode: \"off\" is not a mode: to turn the remote tier off, "
                          "set cache.remote.enabled to false; accepted: read_write, read_only"}),
    [](const auto& info) { return std::string{info.param.name}; });

class load_config_file_test : public ::testing::Test {
 protected:
  testing::scratch_directory dir_;
};

TEST_F(load_config_file_test, yaml_and_yml_and_toml_by_extension) {
  EXPECT_EQ(load_config_file(dir_.write("a.yaml", "cache: {policy: fifo}\n")).memory.policy,
            memory_policy::fifo);
  EXPECT_EQ(load_config_file(dir_.write("b.yml", "logging: {level: off}\n")).logging.level, "off");
  EXPECT_EQ(load_config_file(dir_.write("c.TOML", seed_toml)).memory.size_bytes, 4'000'000'000u);
}

TEST_F(load_config_file_test, other_extension_is_refused) {
  const std::filesystem::path file = dir_.write("cache.json", "{}");
  const config_error e = error_from([&] { load_config_file(file); });
  EXPECT_EQ(e.key_path(), file.string());
  EXPECT_EQ(e.value(), ".json");
  EXPECT_NE(std::string{e.what()}.find("use a .yaml, .yml or .toml file"), std::string::npos)
      << e.what();
}

TEST_F(load_config_file_test, file_without_extension_is_refused) {
  const std::filesystem::path file = dir_.write("larder", "cache: {}\n");
  const config_error e = error_from([&] { load_config_file(file); });
  EXPECT_EQ(std::string{e.what()},
            file.string() + ": has no extension; use a .yaml, .yml or .toml file");
}

TEST_F(load_config_file_test, missing_file_is_named) {
  const std::filesystem::path file = dir_.path() / "absent.yaml";
  const config_error e = error_from([&] { load_config_file(file); });
  EXPECT_EQ(e.key_path(), file.string());
  EXPECT_EQ(std::string{e.what()}, file.string() + ": cannot be read: No such file or directory");
}

TEST_F(load_config_file_test, directory_is_not_a_readable_file) {
  std::filesystem::create_directory(dir_.path() / "dir.yaml");
  const config_error e = error_from([&] { load_config_file(dir_.path() / "dir.yaml"); });
  EXPECT_NE(std::string{e.what()}.find("cannot be read: Is a directory"), std::string::npos)
      << e.what();
}

TEST_F(load_config_file_test, syntax_error_names_the_file) {
  const std::filesystem::path file = dir_.write("broken.toml", "[cache\n");
  const config_error e = error_from([&] { load_config_file(file); });
  EXPECT_EQ(e.key_path(), file.string());
  EXPECT_NE(std::string{e.what()}.find(file.string() + ": line 1"), std::string::npos) << e.what();
}

}  // namespace
}  // namespace larder
