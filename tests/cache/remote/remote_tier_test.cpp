// The remote tier in cache_manager against a real redis-server on loopback: one cache's load is
// another's remote hit, TTLs, corrupted and foreign values planted with redis-cli, chunked and
// skipped large values, a read-only cache, wrong credentials, a server killed, paused, or not
// there yet, and two processes sharing the server.
#include "larder/cache/remote/remote_tier.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <larder/cache/cache_manager.hpp>
#include <larder/cache/cache_set.hpp>
#include <larder/cache/dataset_cache.hpp>
#include <larder/cache/metrics/prometheus_text.hpp>
#include <larder/runtime/runtime.hpp>

#include "larder/cache/remote/key_slot.hpp"
#include "redis_cluster.hpp"
#include "redis_server.hpp"
#include "remote/remote_value.hpp"
#include "remote_test_support.hpp"
#include "scratch_directory.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;
using testing::redis_server;
using testing::text_of;

// What a shell command printed (stdout), trailing newline removed.
std::string shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr)
    out += chunk.data();
  ::pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return out;
}

blob blob_of(const std::string& s) {
  return blob::copy_of(std::as_bytes(std::span(s.data(), s.size())));
}

// Bytes that do not compress, so sizes on the server are predictable.
std::string noise(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return s;
}

class RemoteTier : public ::testing::Test {
 protected:
  cache_config config(const std::string& disk_dir, std::uint16_t port = 0) const {
    cache_config c;
    c.memory.size_bytes = 64ull << 20;
    c.disk.path = dir_.path() / disk_dir;
    c.disk.size_bytes = 256ull << 20;
    c.remote.enabled = true;
    c.remote.nodes = {"127.0.0.1:" + std::to_string(port != 0 ? port : server_->port())};
    // Generous: the machine is shared; the tests that need a timeout set a short one.
    c.remote.request_timeout = 5000ms;
    c.remote.breaker_failures = 3;
    c.remote.breaker_open_for = 200ms;
    return c;
  }

  std::unique_ptr<cache_manager> open(const cache_config& c, const std::string& name = "cache") {
    return rt_.run(
        cache_manager::open(rt_.executor(), c, {.region_size = 1 << 20, .cache_name = name}));
  }

  void close(cache_manager& cache) { rt_.run(cache.close()); }

  std::optional<blob> get(cache_manager& cache, const std::string& key) {
    return rt_.run(cache.get(key));
  }

  void put(cache_manager& cache, const std::string& key, const std::string& value,
           put_options options = {}) {
    rt_.run(cache.put(key, blob_of(value), options));
  }

  // get_or_load with a loader that counts its calls and returns `value`.
  std::string load(cache_manager& cache, const std::string& key, const std::string& value) {
    return text_of(rt_.run(cache.get_or_load(key, [&]() -> asio::awaitable<blob> {
      ++loader_calls_;
      co_return blob_of(value);
    })));
  }

  static remote_tier_stats remote_stats(cache_manager& cache) {
    return cache.metrics().remote.value_or(remote_tier_stats{});
  }

  // Waits until `cache` has published `n` values in all.
  static void wait_published(cache_manager& cache, std::uint64_t n) {
    ASSERT_TRUE(testing::eventually([&] { return remote_stats(cache).publishes >= n; }))
        << "publishes: " << remote_stats(cache).publishes;
  }

  std::string cli(const std::string& args) const {
    return shell("redis-cli -p " + std::to_string(server_->port()) + " " + args);
  }

  static std::string redis_key(const std::string& cache_name, const std::string& key) {
    return remote::remote_key("larder", cache_name, key);
  }

  testing::scratch_directory dir_;
  std::unique_ptr<redis_server> server_ = std::make_unique<redis_server>();
  runtime rt_{runtime_options{.threads = 2}};
  int loader_calls_ = 0;
};

TEST_F(RemoteTier, ALoadInOneCacheIsARemoteHitInAnother) {
  auto a = open(config("a"));
  auto b = open(config("b"));
  const std::string value = noise(10'000, 1);
  EXPECT_EQ(load(*a, "sample/1", value), value);
  EXPECT_EQ(loader_calls_, 1);
  wait_published(*a, 1);

  EXPECT_EQ(load(*b, "sample/1", "not this"), value);
  EXPECT_EQ(loader_calls_, 1);
  const cache_metrics m = b->metrics();
  ASSERT_TRUE(m.remote.has_value());
  EXPECT_EQ(m.remote->lookups, 1u);
  EXPECT_EQ(m.remote->hits, 1u);
  EXPECT_EQ(m.remote->read_bytes,
            remote::encode_value("sample/1", blob_of(value).bytes(), 0, {.enabled = true}).size());
  EXPECT_EQ(m.loads, 0u);
  EXPECT_EQ(m.hits, 1u);
  // Promoted: memory has it, and the local disk tier too.
  EXPECT_TRUE(b->contains("sample/1"));
  ASSERT_TRUE(testing::eventually([&] { return b->disk()->stats().entries == 1; }));
  // The next lookup does not reach the remote tier.
  EXPECT_EQ(text_of(*get(*b, "sample/1")), value);
  EXPECT_EQ(remote_stats(*b).lookups, 1u);
  // b published nothing: promotion is not a new value.
  EXPECT_EQ(remote_stats(*b).publishes, 0u);
  EXPECT_EQ(cli("DBSIZE"), "1");
  close(*a);
  close(*b);
}

TEST_F(RemoteTier, APutIsPublishedAndATtlBecomesTheRedisExpiry) {
  auto a = open(config("a"));
  put(*a, "short", "lived", {.ttl = 60s});
  put(*a, "forever", "lived");
  wait_published(*a, 2);
  const long pttl = std::stol(cli("PTTL " + redis_key("cache", "short")));
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 60'000);
  EXPECT_EQ(cli("PTTL " + redis_key("cache", "forever")), "-1");

  put(*a, "brief", "gone", {.ttl = 50ms});
  wait_published(*a, 3);
  auto b = open(config("b"));
  EXPECT_TRUE(
      testing::eventually([&] { return cli("EXISTS " + redis_key("cache", "brief")) == "0"; }));
  EXPECT_FALSE(get(*b, "brief").has_value());
  EXPECT_EQ(text_of(*get(*b, "short")), "lived");
  close(*a);
  close(*b);
}

TEST_F(RemoteTier, ACorruptedOrForeignValueIsDetectedAndIsAMiss) {
  auto a = open(config("a"));
  const std::string value = noise(5000, 2);
  put(*a, "k", value);
  wait_published(*a, 1);
  const std::string rkey = redis_key("cache", "k");
  // One byte of the stored value changed in place, behind larder's back.
  const std::string length = cli("STRLEN " + rkey);
  EXPECT_EQ(cli("SETRANGE " + rkey + " 100 Z"), length);
  auto b = open(config("b"));
  EXPECT_EQ(load(*b, "k", "from the loader"), "from the loader");
  EXPECT_EQ(loader_calls_, 1);
  EXPECT_EQ(remote_stats(*b).corrupt_values, 1u);
  EXPECT_EQ(remote_stats(*b).hits, 0u);

  // A value another program wrote under our key.
  cli("SET " + redis_key("cache", "foreign") + " hello");
  EXPECT_FALSE(get(*b, "foreign").has_value());
  EXPECT_EQ(remote_stats(*b).corrupt_values, 2u);
  close(*a);
  close(*b);
}

TEST_F(RemoteTier, LargeValuesAreChunkedReassembledAndRemovedWithTheirChunks) {
  cache_config c = config("a");
  c.remote.chunk_size = 64 * 1024;
  auto a = open(c);
  const std::string value = noise(1'000'000, 3);
  put(*a, "big", value);
  wait_published(*a, 1);
  EXPECT_EQ(remote_stats(*a).chunked_publishes, 1u);
  const std::string rkey = redis_key("cache", "big");
  // 1,000,000 bytes plus the entry's header and key in 64 KiB chunks: 16 chunks and a manifest.
  EXPECT_EQ(cli("DBSIZE"), "17");
  EXPECT_EQ(cli("STRLEN " + rkey), std::to_string(remote::manifest_size));

  cache_config cb = config("b");
  auto b = open(cb);
  EXPECT_EQ(text_of(*get(*b, "big")), value);
  EXPECT_EQ(remote_stats(*b).hits, 1u);

  // A chunk gone: the reader detects it.
  cli("DEL " + remote::chunk_key(rkey, 7));
  auto d = open(config("d"));
  EXPECT_FALSE(get(*d, "big").has_value());
  EXPECT_EQ(remote_stats(*d).corrupt_values, 1u);

  // remove() takes the manifest and every remaining chunk.
  EXPECT_TRUE(rt_.run(a->remove("big")));
  EXPECT_EQ(cli("DBSIZE"), "0");
  close(*a);
  close(*b);
  close(*d);
}

TEST_F(RemoteTier, LargeValuesAreSkippedWhenConfiguredAndOverTheLimitAlways) {
  cache_config c = config("a");
  c.remote.chunk_size = 64 * 1024;
  c.remote.large_values = large_value_policy::skip;
  c.remote.max_value_size = 200 * 1024;
  auto a = open(c);
  put(*a, "small", noise(1000, 4));
  put(*a, "over-chunk", noise(100 * 1024, 5));
  wait_published(*a, 1);
  EXPECT_EQ(remote_stats(*a).skipped_large, 1u);

  c.remote.large_values = large_value_policy::chunk;
  c.disk.path = dir_.path() / "b";
  auto b = open(c);
  put(*b, "over-max", noise(300 * 1024, 6));
  EXPECT_EQ(remote_stats(*b).skipped_large, 1u);
  close(*a);
  close(*b);
  EXPECT_EQ(remote_stats(*b).publishes, 0u);
  EXPECT_EQ(cli("DBSIZE"), "1");
}

TEST_F(RemoteTier, AReadOnlyCacheAsksButNeverPublishesOrErases) {
  auto writer = open(config("w"));
  put(*writer, "shared", "value");
  wait_published(*writer, 1);
  cache_config c = config("r");
  c.remote.mode = remote_use::read_only;
  auto reader = open(c);
  EXPECT_EQ(text_of(*get(*reader, "shared")), "value");
  put(*reader, "mine", "local only");
  EXPECT_EQ(load(*reader, "loaded", "local too"), "local too");
  EXPECT_TRUE(rt_.run(reader->remove("shared")));
  close(*reader);
  EXPECT_EQ(remote_stats(*reader).publishes, 0u);
  EXPECT_EQ(cli("DBSIZE"), "1");
  EXPECT_EQ(cli("EXISTS " + redis_key("cache", "shared")), "1");
  close(*writer);
}

TEST_F(RemoteTier, WrongPasswordIsAClearErrorThatDoesNotShowIt) {
  server_ = std::make_unique<redis_server>(std::vector<std::string>{"--requirepass", "s3cret"});
  cache_config c = config("a");
  c.remote.password = "not-the-password";
  try {
    open(c);
    FAIL() << "opened with a wrong password";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::permission_denied);
    const std::string message = e.what();
    EXPECT_NE(message.find("127.0.0.1:" + std::to_string(server_->port())), std::string::npos)
        << message;
    EXPECT_EQ(message.find("not-the-password"), std::string::npos) << message;
  }
  c.remote.password = "s3cret";
  auto a = open(c);
  EXPECT_TRUE(remote_stats(*a).connected);
  close(*a);
}

TEST_F(RemoteTier, AKilledServerGivesMissesNotAHangAndTheTierRecovers) {
  auto a = open(config("a"));
  auto b = open(config("b"));
  const std::uint16_t port = server_->port();
  server_->stop(SIGKILL);

  // Every lookup still answers (from the loader); after breaker_failures failures the breaker
  // opens and the rest are refused without asking.
  for (int i = 0; i < 20; ++i) {
    const std::string key = "down/" + std::to_string(i);
    EXPECT_EQ(load(*b, key, "loaded"), "loaded");
  }
  EXPECT_EQ(loader_calls_, 20);
  remote_tier_stats s = remote_stats(*b);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_GE(s.errors, 3u);
  EXPECT_GE(s.breaker_opened, 1u);
  EXPECT_GT(s.refused, 0u);

  // The server returns (empty: it kept nothing): values published from now on are shared again.
  server_ = std::make_unique<redis_server>(std::vector<std::string>{}, port);
  int round = 0;
  const bool recovered = testing::eventually([&] {
    const std::string key = "up/" + std::to_string(round++);
    put(*a, key, "again");
    std::this_thread::sleep_for(20ms);
    const auto v = get(*b, key);
    return v.has_value() && text_of(*v) == "again";
  });
  EXPECT_TRUE(recovered);
  EXPECT_FALSE(remote_stats(*b).breaker_open);
  close(*a);
  close(*b);
}

TEST_F(RemoteTier, ASlowServerIsAMissAfterTheDeadline) {
  cache_config c = config("a");
  c.remote.request_timeout = 200ms;
  auto a = open(c);
  std::thread sleeper([&] { cli("DEBUG SLEEP 3"); });
  ASSERT_TRUE(testing::eventually([&] { return !testing::answers_ping(server_->port()); }));
  EXPECT_EQ(load(*a, "k", "loaded"), "loaded");
  sleeper.join();
  // The lookup timed out; the loaded value's publish may then fail too, on the broken connection.
  EXPECT_EQ(remote_stats(*a).timeouts, 1u);
  EXPECT_GE(remote_stats(*a).errors, 1u);
  EXPECT_EQ(remote_stats(*a).hits, 0u);
  close(*a);
}

TEST_F(RemoteTier, AServerNotYetUpIsReachedInTheBackground) {
  const std::uint16_t port = testing::free_port();
  cache_config c = config("a", port);
  c.remote.connect_timeout = 200ms;
  auto a = open(c);
  EXPECT_FALSE(remote_stats(*a).connected);
  EXPECT_EQ(load(*a, "k", "loaded"), "loaded");
  EXPECT_EQ(remote_stats(*a).misses, 1u);

  const redis_server late({}, port);
  EXPECT_TRUE(testing::eventually([&] { return remote_stats(*a).connected; }));
  put(*a, "after", "connected");
  wait_published(*a, 1);
  close(*a);
}

TEST_F(RemoteTier, ACacheSetGivesEachProfileItsRemoteUse) {
  cache_config c = config("set");
  c.training_cache.remote = remote_use::read_only;
  c.system_cache.remote = remote_use::read_write;
  auto set = rt_.run(cache_set::open(rt_.executor(), c));
  ASSERT_NE(set->model().remote(), nullptr);
  EXPECT_EQ(set->model().remote()->use(), remote_use::read_write);
  ASSERT_NE(set->training().remote(), nullptr);
  EXPECT_EQ(set->training().remote()->use(), remote_use::read_only);
  // The system cache keeps no disk tier, but may still share through the remote one.
  EXPECT_EQ(set->system().disk(), nullptr);
  ASSERT_NE(set->system().remote(), nullptr);
  rt_.run(set->model().put("weights", blob_of("w")));
  rt_.run(set->system().put("note", blob_of("n")));
  rt_.run(set->training().put("sample", blob_of("s")));
  rt_.run(set->close());
  // Each profile publishes under its own name; the read-only one published nothing.
  EXPECT_EQ(cli("EXISTS " + redis_key("model_cache", "weights")), "1");
  EXPECT_EQ(cli("EXISTS " + redis_key("system_cache", "note")), "1");
  EXPECT_EQ(cli("DBSIZE"), "2");

  c.remote.enabled = false;
  c.disk.path = dir_.path() / "off";
  auto plain = rt_.run(cache_set::open(rt_.executor(), c));
  EXPECT_EQ(plain->model().remote(), nullptr);
  rt_.run(plain->close());
}

// The training loop's view: node A streams an epoch of a dataset, reading its source; node B,
// streaming the same dataset (same fingerprint), reads nothing from the source.
TEST_F(RemoteTier, ADatasetStreamedOnOneNodeIsNotReadFromTheSourceOnAnother) {
  std::atomic<int> source_reads{0};
  const dataset_source source =
      callback_dataset("remote-test-dataset", 100, [&](std::size_t i) -> asio::awaitable<blob> {
        ++source_reads;
        co_return blob_of(noise(2000, static_cast<unsigned>(i)));
      });
  const auto epoch = [&](cache_manager& cache) {
    dataset_cache datasets(cache);
    auto stream = datasets.stream_dataset(source, {}, {.batch_size = 10});
    std::size_t samples = 0;
    rt_.run([&]() -> asio::awaitable<void> {
      while (auto batch = co_await stream->next()) {
        for (std::size_t k = 0; k < batch->samples.size(); ++k) {
          EXPECT_EQ(text_of(batch->samples[k]),
                    noise(2000, static_cast<unsigned>(batch->indices[k])));
          ++samples;
        }
      }
    }());
    return samples;
  };
  auto a = open(config("a"), "training_cache");
  EXPECT_EQ(epoch(*a), 100u);
  EXPECT_EQ(source_reads.load(), 100);
  wait_published(*a, 100);

  auto b = open(config("b"), "training_cache");
  EXPECT_EQ(epoch(*b), 100u);
  EXPECT_EQ(source_reads.load(), 100);
  EXPECT_EQ(remote_stats(*b).hits, 100u);
  close(*a);
  close(*b);
}

// Two training processes on one server: the first loads every sample, the second loads none.
TEST_F(RemoteTier, TwoProcessesShareTheServer) {
  const std::string seeds = "127.0.0.1:" + std::to_string(server_->port());
  const std::string first = shell(std::string(REMOTE_PEER) + " " + seeds + " " +
                                  (dir_.path() / "p1").string() + " 200 2>&1");
  EXPECT_NE(first.find("loads=200 remote_hits=0 wrong=0"), std::string::npos) << first;
  const std::string second = shell(std::string(REMOTE_PEER) + " " + seeds + " " +
                                   (dir_.path() / "p2").string() + " 200 2>&1");
  EXPECT_NE(second.find("loads=0 remote_hits=200 wrong=0"), std::string::npos) << second;
}

TEST_F(RemoteTier, MetricsNameTheRemoteTier) {
  auto a = open(config("a"));
  put(*a, "k", "v");
  wait_published(*a, 1);
  auto b = open(config("b"));
  EXPECT_TRUE(get(*b, "k").has_value());
  const named_cache_metrics named[] = {{"b", b->metrics()}};
  const std::string text = prometheus_text(named);
  EXPECT_NE(text.find("larder_hits_total{cache=\"b\",tier=\"remote\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("larder_remote_lookups_total{cache=\"b\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("larder_remote_connected{cache=\"b\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("larder_remote_nodes{cache=\"b\"} 1\n"), std::string::npos);
  close(*a);
  close(*b);
}

// The same tier on a three-master Redis Cluster.
class RemoteTierOnCluster : public ::testing::Test {
 protected:
  std::string seeds(std::size_t first_node = 0) const {
    return "127.0.0.1:" + std::to_string(cluster_.port(first_node));
  }

  std::unique_ptr<remote_tier> open_tier(std::chrono::milliseconds request_timeout = 5000ms) {
    remote_tier_options o;
    o.client.seeds = {{"127.0.0.1", cluster_.port(0)}};
    o.client.request_timeout = request_timeout;
    o.client.connect_timeout = 500ms;
    o.chunk_size = 16 * 1024;
    o.breaker_failures = 1000;  // these tests count every failure; the breaker has its own
    return rt_.run(remote_tier::open(rt_.executor(), o));
  }

  // The cluster node that serves the tier's key for `key`.
  std::size_t node_of(const std::string& key) {
    const std::uint16_t slot = key_slot(remote::remote_key("larder", "cache", key));
    return static_cast<std::size_t>(cluster_.owners()[slot]);
  }

  static void wait_published(remote_tier& tier, std::uint64_t n) {
    ASSERT_TRUE(testing::eventually([&] { return tier.stats().publishes >= n; }))
        << "publishes: " << tier.stats().publishes << ", errors: " << tier.stats().errors;
  }

  testing::scratch_directory dir_;
  testing::redis_cluster cluster_;
  runtime rt_{runtime_options{.threads = 2}};
};

TEST_F(RemoteTierOnCluster, TwoProcessesShareTheCluster) {
  // Each peer knows one seed node, a different one; both learn the whole cluster from it.
  const std::string first = shell(std::string(REMOTE_PEER) + " " + seeds(0) + " " +
                                  (dir_.path() / "p1").string() + " 300 2>&1");
  EXPECT_NE(first.find("loads=300 remote_hits=0 wrong=0"), std::string::npos) << first;
  const std::string second = shell(std::string(REMOTE_PEER) + " " + seeds(2) + " " +
                                   (dir_.path() / "p2").string() + " 300 2>&1");
  EXPECT_NE(second.find("loads=0 remote_hits=300 wrong=0"), std::string::npos) << second;
  // The samples are spread over the three masters.
  for (std::size_t i = 0; i < cluster_.size(); ++i) {
    EXPECT_GT(std::stoi(cluster_.cli(i, {"DBSIZE"})), 30) << "node " << i;
  }
}

TEST_F(RemoteTierOnCluster, SlotsMigratingWhileReadsRunNeverGiveWrongData) {
  auto writer = open_tier();
  auto reader = open_tier();
  constexpr int keys = 120;
  std::vector<std::string> values;
  for (int i = 0; i < keys; ++i) {
    // Every fourth value is chunked: its chunks move with its slot (one hash tag).
    values.push_back(noise(i % 4 == 0 ? 40'000 : 500, static_cast<unsigned>(i)));
    // One at a time: a burst over max_publishes_in_flight would be dropped.
    writer->publish("k/" + std::to_string(i), blob_of(values.back()), {});
    wait_published(*writer, i + 1);
  }

  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, right{0}, missed{0};
  auto read_all = [&]() -> asio::awaitable<void> {
    while (!stop.load()) {
      for (int i = 0; i < keys; ++i) {
        const std::string key = "k/" + std::to_string(i);
        const auto found = co_await reader->get(key);
        if (!found) {
          ++missed;
        } else if (text_of(found->value) != values[i]) {
          ++wrong;
        } else {
          ++right;
        }
      }
    }
  };
  rt_.spawn(read_all);
  rt_.spawn(read_all);
  // Move the slots of ten keys, chunked ones among them, to the next node.
  for (int i = 0; i < 10; ++i) {
    const std::string key = "k/" + std::to_string(i * 4);
    const std::size_t from = node_of(key);
    const int slot = key_slot(remote::remote_key("larder", "cache", key));
    cluster_.migrate_slot(slot, from, (from + 1) % cluster_.size(), [] {});
  }
  const int before = right.load();
  ASSERT_TRUE(testing::eventually([&] { return right.load() > before + 2 * keys; }));
  stop = true;
  rt_.run([]() -> asio::awaitable<void> { co_await testing::pause(200ms); }());

  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(reader->stats().client.moved_redirections + reader->stats().client.ask_redirections,
            0u);
  EXPECT_EQ(reader->stats().corrupt_values, 0u);
  // Once the moves are done every key is found again, at its new node.
  for (int i = 0; i < keys; ++i) {
    const auto found = rt_.run(reader->get("k/" + std::to_string(i)));
    ASSERT_TRUE(found.has_value()) << i;
    EXPECT_EQ(text_of(found->value), values[i]);
  }
  rt_.run(writer->close());
  rt_.run(reader->close());
}

TEST_F(RemoteTierOnCluster, AKilledNodeMissesItsSlotsOnlyAndRecoversWhenItReturns) {
  auto tier = open_tier(300ms);
  constexpr int keys = 60;
  for (int i = 0; i < keys; ++i) {
    tier->publish("k/" + std::to_string(i), blob_of("v" + std::to_string(i)), {});
    wait_published(*tier, i + 1);
  }
  std::vector<std::size_t> node(keys);
  for (int i = 0; i < keys; ++i)
    node[i] = node_of("k/" + std::to_string(i));

  cluster_.node(1).stop(SIGKILL);
  int hits = 0, misses_on_dead = 0;
  for (int i = 0; i < keys; ++i) {
    const auto found = rt_.run(tier->get("k/" + std::to_string(i)));
    if (node[i] == 1) {
      misses_on_dead += found.has_value() ? 0 : 1;
    } else {
      ASSERT_TRUE(found.has_value()) << "key " << i << " on live node " << node[i];
      ++hits;
    }
  }
  const int on_dead = static_cast<int>(std::count(node.begin(), node.end(), std::size_t{1}));
  EXPECT_GT(on_dead, 0);
  EXPECT_EQ(misses_on_dead, on_dead);
  EXPECT_EQ(hits, keys - on_dead);

  // Back on its port with its nodes.conf (and no data: it kept none): new values on its slots
  // are stored and found again.
  cluster_.node(1).start();
  ASSERT_TRUE(testing::eventually([&] { return cluster_.healthy(); }));
  int round = 0;
  const bool recovered = testing::eventually([&] {
    for (;; ++round) {
      const std::string key = "again/" + std::to_string(round);
      if (node_of(key) != 1) continue;
      const auto before = tier->stats().publishes;
      tier->publish(key, blob_of("back"), {});
      testing::eventually(
          [&] { return tier->stats().publishes > before || tier->stats().errors > 0; }, 2000ms);
      const auto found = rt_.run(tier->get(key));
      ++round;
      return found.has_value() && text_of(found->value) == "back";
    }
  });
  EXPECT_TRUE(recovered);
  rt_.run(tier->close());
}

}  // namespace
}  // namespace larder
