// redis_client against real servers on loopback: a standalone redis-server, and a three-master
// Redis Cluster started per test, whose slots are migrated and whose nodes are killed and
// restarted while requests run.
#include "larder/cache/remote/redis_client.hpp"

#include <atomic>
#include <csignal>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <larder/cache/remote/key_slot.hpp>
#include <larder/runtime/runtime.hpp>

#include "redis_cluster.hpp"
#include "redis_server.hpp"
#include "remote_test_support.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;
using testing::bytes_of;
using testing::redis_cluster;
using testing::redis_server;
using testing::text_of;

std::string value_of(const std::string& key) {
  return "value of " + key;
}

redis_node_address loopback(std::uint16_t port) {
  return redis_node_address{.host = "127.0.0.1", .port = port};
}

class RedisClientTest : public ::testing::Test {
 protected:
  redis_client_options options(std::vector<std::uint16_t> seed_ports) const {
    redis_client_options o;
    o.seeds.clear();
    for (const std::uint16_t port : seed_ports)
      o.seeds.push_back(loopback(port));
    o.connect_timeout = 2s;
    o.request_timeout = 2s;
    o.reconnect_backoff_min = 20ms;
    o.reconnect_backoff_max = 200ms;
    return o;
  }

  std::unique_ptr<redis_client> connect(redis_client_options o) {
    return rt_.run(redis_client::connect(rt_.executor(), std::move(o)));
  }

  void set(redis_client& c, const std::string& key, const std::string& value) {
    rt_.run(c.set(key, bytes_of(value)));
  }

  std::optional<std::string> get(redis_client& c, const std::string& key) {
    const std::optional<blob> b = rt_.run(c.get(key));
    if (!b) return std::nullopt;
    return text_of(*b);
  }

  runtime rt_{runtime_options{.threads = 2}};
};

// ---- standalone ----

TEST_F(RedisClientTest, StandaloneRoundTrip) {
  redis_server server;
  // The first seed refuses connections: the client goes on to the next one.
  auto c = connect(options({testing::free_port(), server.port()}));
  set(*c, "a", "1");
  set(*c, "b", std::string("\0\r\n", 3));
  EXPECT_EQ(get(*c, "a"), "1");
  EXPECT_EQ(get(*c, "b"), std::string("\0\r\n", 3));
  EXPECT_EQ(get(*c, "missing"), std::nullopt);
  EXPECT_TRUE(rt_.run(c->del("a")));
  EXPECT_FALSE(rt_.run(c->del("a")));
  EXPECT_EQ(get(*c, "a"), std::nullopt);

  const redis_client_stats s = c->stats();
  EXPECT_FALSE(s.cluster);
  EXPECT_EQ(s.nodes, 1u);
  EXPECT_EQ(s.failed_requests, 0u);
  EXPECT_EQ(s.requests, 8u);
  EXPECT_GE(s.connect_failures, 1u);  // the first seed
}

TEST_F(RedisClientTest, NoSeedAnsweringFailsTheConnectNamingTheLastOne) {
  const std::uint16_t port = testing::free_port();
  try {
    connect(options({port}));
    ADD_FAILURE() << "connected to nobody";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << e.what();
  }
}

TEST_F(RedisClientTest, ExpiryIsPassedOn) {
  redis_server server;
  auto c = connect(options({server.port()}));
  rt_.run(c->set("short", bytes_of("v"), 50ms));
  EXPECT_TRUE(testing::eventually([&] { return !get(*c, "short").has_value(); }));
}

// A server with a password for the default user and an ACL user of its own.
class RedisClientAuthTest : public RedisClientTest {
 protected:
  void expect_authentication_failure(redis_client_options o) {
    try {
      connect(o);
      ADD_FAILURE() << "a wrong user or password was accepted";
    } catch (const std::system_error& e) {
      const std::string message = e.what();
      EXPECT_EQ(e.code(), std::errc::permission_denied);
      EXPECT_NE(message.find("authentication failed"), std::string::npos) << message;
      EXPECT_NE(message.find("127.0.0.1:" + std::to_string(server_.port())), std::string::npos)
          << message;
      EXPECT_EQ(message.find(*o.password), std::string::npos) << message;
    }
  }

  redis_server server_{std::vector<std::string>{"--requirepass", "secret", "--user", "trainer",
                                                "on", ">trainer-pass", "~*", "&*", "+@all"}};
};

TEST_F(RedisClientAuthTest, RightPasswordAndRightUserWork) {
  redis_client_options o = options({server_.port()});
  o.password = "secret";
  auto by_password = connect(o);
  set(*by_password, "k", "v");
  o.user = "trainer";
  o.password = "trainer-pass";
  auto by_user = connect(o);
  EXPECT_EQ(get(*by_user, "k"), "v");
}

TEST_F(RedisClientAuthTest, WrongPasswordIsAClearError) {
  redis_client_options o = options({server_.port()});
  o.password = "hunter2-wrong";
  expect_authentication_failure(o);
}

TEST_F(RedisClientAuthTest, WrongUserIsAClearError) {
  redis_client_options o = options({server_.port()});
  o.user = "nobody";
  o.password = "trainer-pass";
  expect_authentication_failure(o);
}

// ---- cluster ----

class RedisClientClusterTest : public RedisClientTest {
 protected:
  std::unique_ptr<redis_client> connect_to_cluster() {
    return connect(options({cluster_.port(0)}));
  }

  std::vector<std::string> keys(const std::string& prefix, int count) const {
    std::vector<std::string> out;
    for (int i = 0; i < count; ++i)
      out.push_back(prefix + std::to_string(i));
    return out;
  }

  redis_cluster cluster_;
};

TEST_F(RedisClientClusterTest, RoundTripsKeysOnEveryNode) {
  auto c = connect_to_cluster();
  const std::vector<std::string> all = keys("sample:", 1000);
  for (const std::string& k : all)
    set(*c, k, value_of(k));
  for (const std::string& k : all)
    ASSERT_EQ(get(*c, k), value_of(k)) << k;

  // Each node holds exactly the keys of its slots: the client sent every key to its owner.
  const std::vector<int> owner = cluster_.owners();
  std::vector<long> expected(cluster_.size(), 0);
  for (const std::string& k : all)
    ++expected.at(owner.at(key_slot(k)));
  for (std::size_t i = 0; i < cluster_.size(); ++i) {
    EXPECT_GT(expected[i], 0) << "node " << i;
    EXPECT_EQ(std::stol(cluster_.cli(i, {"DBSIZE"})), expected[i]) << "node " << i;
  }
  const redis_client_stats s = c->stats();
  EXPECT_TRUE(s.cluster);
  EXPECT_EQ(s.nodes, 3u);
  EXPECT_EQ(s.requests, 2000u);
  EXPECT_EQ(s.failed_requests, 0u);
  EXPECT_EQ(s.moved_redirections, 0u);
  EXPECT_EQ(s.ask_redirections, 0u);
  EXPECT_GE(s.connects, 3u);  // a pool per node
  EXPECT_EQ(s.connect_failures, 0u);
}

// Requests that arrive together at a fresh client share the connects of its pools' slots: at
// most connections_per_node connections per node, however many requests wait for them.
TEST_F(RedisClientClusterTest, ABurstOfRequestsOpensOneConnectionPerPoolSlot) {
  auto seeder = connect_to_cluster();
  const std::vector<std::string> all = keys("burst:", 300);
  for (const std::string& k : all)
    set(*seeder, k, value_of(k));

  redis_client_options o = options({cluster_.port(0)});
  o.connections_per_node = 2;
  auto c = connect(o);
  std::atomic<int> right{0}, done{0};
  for (const std::string& k : all) {
    rt_.spawn([&c = *c, k, &right, &done]() -> asio::awaitable<void> {
      try {
        const std::optional<blob> v = co_await c.get(k);
        if (v && text_of(*v) == value_of(k)) ++right;
      } catch (const std::exception&) {
        // Counted as not right.
      }
      ++done;
    });
  }
  ASSERT_TRUE(testing::eventually([&] { return done.load() == static_cast<int>(all.size()); }));
  EXPECT_EQ(right.load(), static_cast<int>(all.size()));
  EXPECT_LE(c->stats().connects, cluster_.size() * o.connections_per_node);
}

TEST_F(RedisClientClusterTest, MgetOfKeysWithOneHashTag) {
  auto c = connect_to_cluster();
  const std::vector<std::string> batch = keys("{batch7}:", 20);
  for (std::size_t i = 0; i < batch.size(); i += 2)
    set(*c, batch[i], value_of(batch[i]));
  const std::vector<std::optional<blob>> values = rt_.run(c->mget(batch));
  ASSERT_EQ(values.size(), batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i % 2 == 0) {
      ASSERT_TRUE(values[i].has_value()) << batch[i];
      EXPECT_EQ(text_of(*values[i]), value_of(batch[i]));
    } else {
      EXPECT_FALSE(values[i].has_value()) << batch[i];
    }
  }
  const std::vector<std::string> spread{"{a}x", "{b}x"};
  ASSERT_NE(key_slot(spread[0]), key_slot(spread[1]));
  EXPECT_THROW(rt_.run(c->mget(spread)), std::invalid_argument);
}

// A key moved while its slot is still MIGRATING: its old node answers ASK, the client asks the
// new one with ASKING and gets the value; keys not moved yet are still served by the old node, and
// a multi-key request over both is a TRYAGAIN error.
TEST_F(RedisClientClusterTest, AskDuringAMigrationReachesTheNewNode) {
  auto c = connect_to_cluster();
  const std::vector<std::string> tagged = keys("{epoch3}:", 10);
  for (const std::string& k : tagged)
    set(*c, k, value_of(k));
  const int slot = key_slot(tagged[0]);
  const std::size_t from = static_cast<std::size_t>(cluster_.owners().at(slot));
  const std::size_t to = (from + 1) % cluster_.size();

  std::string moved_first;
  cluster_.migrate_slot(slot, from, to, [&] {
    // Exactly one key of the slot is on the new node now.
    moved_first = cluster_.cli(to, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "10"});
    moved_first = moved_first.substr(0, moved_first.find('\n'));
    EXPECT_EQ(get(*c, moved_first), value_of(moved_first));
    EXPECT_GE(c->stats().ask_redirections, 1u);
    // A new key of the slot goes to the new node too (the old one does not have it).
    set(*c, "{epoch3}:new", value_of("{epoch3}:new"));
    EXPECT_EQ(get(*c, "{epoch3}:new"), value_of("{epoch3}:new"));
    for (const std::string& k : tagged)
      EXPECT_EQ(get(*c, k), value_of(k)) << k;
    // The keys of one MGET are split over two nodes now: the old node answers TRYAGAIN, an error
    // for the caller (the remote tier's miss), not a redirection.
    EXPECT_THROW(rt_.run(c->mget(tagged)), redis_error);
  });
  ASSERT_FALSE(moved_first.empty());
  EXPECT_EQ(c->stats().moved_redirections, 0u);
  EXPECT_EQ(c->stats().failed_requests, 1u);

  // Once the slot is the new node's, the old one answers MOVED and the client learns the map.
  for (const std::string& k : tagged)
    EXPECT_EQ(get(*c, k), value_of(k)) << k;
  EXPECT_GE(c->stats().moved_redirections, 1u);
  EXPECT_TRUE(testing::eventually([&] { return c->stats().slot_map_refreshes >= 1; }));
}

// Slots full of keys move from node to node while two threads read them: every read returns the
// key's own value or fails (a timeout on a loaded machine), never a wrong value or a miss; the
// client follows MOVED and ASK and ends up with a map that needs no more redirections.
TEST_F(RedisClientClusterTest, MigratingSlotsUnderLoadNeverYieldsAWrongValue) {
  auto c = connect_to_cluster();
  std::vector<std::string> all;
  for (const std::string tag : {"{m0}", "{m1}", "{m2}", "{m3}"}) {
    for (const std::string& k : keys(tag + ":", 50))
      all.push_back(k);
  }
  for (const std::string& k : all)
    set(*c, k, value_of(k));

  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, wrong{0}, misses{0}, errors{0};
  const auto reader = [&](std::size_t start) {
    for (std::size_t i = start; !stop.load(); i += 7) {
      const std::string& k = all[i % all.size()];
      try {
        const std::optional<std::string> v = get(*c, k);
        if (!v) {
          ++misses;
        } else if (*v != value_of(k)) {
          ++wrong;
        }
      } catch (const std::system_error&) {
        ++errors;
      }
      ++reads;
    }
  };
  std::thread r1(reader, 0), r2(reader, 3);

  for (const std::string tag : {"{m0}", "{m1}", "{m2}", "{m3}"}) {
    const int slot = key_slot(tag);
    const std::size_t from = static_cast<std::size_t>(cluster_.owners().at(slot));
    const long before = reads.load();
    cluster_.migrate_slot(slot, from, (from + 1) % cluster_.size(), [&] {
      // Let reads run against the half-migrated slot.
      testing::eventually([&] { return reads.load() >= before + 50; });
    });
  }
  const long after_migration = reads.load();
  EXPECT_TRUE(testing::eventually([&] { return reads.load() >= after_migration + 400; }));
  stop = true;
  r1.join();
  r2.join();

  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(misses.load(), 0);
  EXPECT_LT(errors.load(), reads.load() / 10) << errors.load() << " of " << reads.load();
  const redis_client_stats s = c->stats();
  EXPECT_GT(s.moved_redirections, 0u);
  EXPECT_GE(s.slot_map_refreshes, 1u);

  // The refreshed map routes every key straight to its new node.
  EXPECT_TRUE(testing::eventually([&] {
    const std::uint64_t moved = c->stats().moved_redirections;
    for (const std::string& k : all)
      if (get(*c, k) != value_of(k)) return false;
    return c->stats().moved_redirections == moved;
  }));
}

// A node killed with SIGKILL: requests for its slots fail (first by timeout or a refused
// connection, then at once while the client backs off) and the other nodes keep serving theirs;
// restarted on its port with its nodes.conf, it serves its slots again (empty: the test servers
// keep nothing on disk).
TEST_F(RedisClientClusterTest, KilledNodeFailsItsSlotsAndRecoversWhenItReturns) {
  redis_client_options o = options({cluster_.port(0)});
  o.request_timeout = 500ms;
  o.connect_timeout = 500ms;
  auto c = connect(o);
  const std::vector<std::string> all = keys("sample:", 300);
  for (const std::string& k : all)
    set(*c, k, value_of(k));
  const std::vector<int> owner = cluster_.owners();
  const std::size_t victim = 2;

  cluster_.node(victim).stop(SIGKILL);
  for (int round = 0; round < 3; ++round) {
    long failed = 0;
    for (const std::string& k : all) {
      if (owner.at(key_slot(k)) == static_cast<int>(victim)) {
        EXPECT_THROW(get(*c, k), std::system_error) << k;
        ++failed;
      } else {
        EXPECT_EQ(get(*c, k), value_of(k)) << k;
      }
    }
    EXPECT_GT(failed, 0);
  }
  const redis_client_stats down = c->stats();
  EXPECT_GT(down.failed_requests, 0u);
  EXPECT_GT(down.connect_failures, 0u);

  cluster_.node(victim).start();
  EXPECT_TRUE(testing::eventually([&] {
    try {
      for (const std::string& k : all) {
        if (owner.at(key_slot(k)) != static_cast<int>(victim)) continue;
        set(*c, k, value_of(k));
        if (get(*c, k) != value_of(k)) return false;
      }
      return true;
    } catch (const std::system_error&) {
      return false;  // refused, or still backing off
    } catch (const redis_error&) {
      return false;  // CLUSTERDOWN until the returning node has caught up with the others
    }
  }));
  for (const std::string& k : all)
    EXPECT_EQ(get(*c, k), value_of(k)) << k;
}

// A node that stops answering (DEBUG SLEEP): its requests time out, the next ones fail at once
// while the client backs off the node, the other nodes keep serving, and once the node wakes its
// keys are served again with their values.
TEST_F(RedisClientClusterTest, PausedNodeTimesOutThenFailsFastThenRecovers) {
  redis_client_options o = options({cluster_.port(0)});
  o.request_timeout = 300ms;
  o.connect_timeout = 300ms;
  // Long enough that requests arrive inside the window the first timeout opens.
  o.reconnect_backoff_min = 2s;
  o.reconnect_backoff_max = 2s;
  auto c = connect(o);
  const std::vector<std::string> all = keys("sample:", 300);
  for (const std::string& k : all)
    set(*c, k, value_of(k));
  const std::vector<int> owner = cluster_.owners();
  const std::size_t victim = 1;
  std::vector<std::string> victims, others;
  for (const std::string& k : all)
    (owner.at(key_slot(k)) == static_cast<int>(victim) ? victims : others).push_back(k);

  std::thread sleeper([&] { cluster_.cli(victim, {"DEBUG", "SLEEP", "4"}); });
  if (!testing::eventually([&] { return !testing::answers_ping(cluster_.port(victim)); })) {
    sleeper.join();
    FAIL() << "the node never stopped answering";
  }
  long timed_out = 0, failed_fast = 0;
  for (std::size_t i = 0; i < victims.size() && (timed_out == 0 || failed_fast == 0); ++i) {
    try {
      get(*c, victims[i]);
      ADD_FAILURE() << "a sleeping node answered for " << victims[i];
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::timed_out) ++timed_out;
      if (std::string(e.what()).find("next reconnect") != std::string::npos) ++failed_fast;
    }
  }
  EXPECT_GT(timed_out, 0);
  EXPECT_GT(failed_fast, 0);
  for (const std::string& k : others)
    EXPECT_EQ(get(*c, k), value_of(k)) << k;
  sleeper.join();

  EXPECT_TRUE(testing::eventually([&] {
    try {
      for (const std::string& k : victims)
        if (get(*c, k) != value_of(k)) return false;
      return true;
    } catch (const std::exception&) {
      return false;  // still backing off, or CLUSTERDOWN while the node catches up
    }
  }));
  EXPECT_GE(c->stats().timeouts, 1u);
}

}  // namespace
}  // namespace larder
