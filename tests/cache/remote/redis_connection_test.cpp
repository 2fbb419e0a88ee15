// redis_connection against a real redis-server, one per test, on a free loopback port: binary
// round trips, expiry, pipelining from two threads, a server killed or paused under requests,
// refused connections, passwords and ACL users.
#include "larder/cache/remote/redis_connection.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include <larder/runtime/runtime.hpp>

#include "redis_server.hpp"
#include "remote_test_support.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using testing::answers_ping;
using testing::redis_server;

using namespace std::chrono_literals;
using testing::bytes_of;
using testing::text_of;

class RedisConnection : public ::testing::Test {
 protected:
  redis_endpoint endpoint(std::chrono::milliseconds request_timeout = 5s) const {
    redis_endpoint e;
    e.port = server_->port();
    e.request_timeout = request_timeout;
    return e;
  }

  std::unique_ptr<redis_connection> connect(redis_endpoint e) {
    return rt_.run(redis_connection::connect(rt_.executor(), std::move(e)));
  }

  // Sends DEBUG SLEEP on a connection of its own, so the server stops answering everyone for
  // `seconds`; returns once the command has reached the server.
  std::unique_ptr<redis_connection> pause_server(const std::string& seconds) {
    auto sleeper = connect(endpoint(20s));
    rt_.spawn([&c = *sleeper, seconds]() -> asio::awaitable<void> {
      try {
        std::vector<std::string> args{"DEBUG", "SLEEP", seconds};
        co_await c.command(std::move(args));
      } catch (const std::exception&) {
        // The server may be killed while it sleeps; this connection's fate is not under test.
      }
    });
    // The server is asleep once it stops answering a PING.
    EXPECT_TRUE(testing::eventually([&] { return !answers_ping(server_->port()); }));
    return sleeper;
  }

  std::unique_ptr<redis_server> server_ = std::make_unique<redis_server>();
  runtime rt_{runtime_options{.threads = 2}};
};

TEST_F(RedisConnection, RoundTripsBinaryValues) {
  auto c = connect(endpoint());
  testing::expect_binary_round_trips(rt_, *c);
}

TEST_F(RedisConnection, MissingKeyIsNullopt) {
  auto c = connect(endpoint());
  EXPECT_FALSE(rt_.run(c->get("absent")).has_value());
}

TEST_F(RedisConnection, DelReportsWhetherTheKeyExisted) {
  auto c = connect(endpoint());
  rt_.run(c->set("k", bytes_of("v")));
  EXPECT_TRUE(rt_.run(c->del("k")));
  EXPECT_FALSE(rt_.run(c->get("k")).has_value());
  EXPECT_FALSE(rt_.run(c->del("k")));
}

TEST_F(RedisConnection, ValueWithTtlExpires) {
  auto c = connect(endpoint());
  rt_.run(c->set("short", bytes_of("lived"), 50ms));
  rt_.run(c->set("long", bytes_of("lived")));
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(rt_.run(c->get("short")).has_value());
  EXPECT_TRUE(rt_.run(c->get("long")).has_value());
}

TEST_F(RedisConnection, ErrorReplyLeavesTheConnectionUsable) {
  auto c = connect(endpoint());
  rt_.run(c->command({"LPUSH", "list", "x"}));
  EXPECT_THROW(rt_.run(c->get("list")), redis_error);
  const redis_reply pong = rt_.run(c->command({"PING"}));
  EXPECT_EQ(pong.type, redis_reply::kind::status);
  EXPECT_EQ(pong.text, "PONG");
}

TEST_F(RedisConnection, CommandSequenceReturnsTheLastReply) {
  auto c = connect(endpoint());
  std::vector<std::vector<std::string>> set_then_get{{"SET", "k", "v"}, {"GET", "k"}};
  const redis_reply reply = rt_.run(c->command_sequence(std::move(set_then_get)));
  EXPECT_EQ(reply.type, redis_reply::kind::string);
  EXPECT_EQ(reply.text, "v");
}

TEST_F(RedisConnection, CommandSequenceThrowsAnErrorReplyToAnyCommand) {
  auto c = connect(endpoint());
  rt_.run(c->command({"LPUSH", "list", "x"}));
  std::vector<std::vector<std::string>> failing_first{{"GET", "list"}, {"PING"}};
  EXPECT_THROW(rt_.run(c->command_sequence(std::move(failing_first))), redis_error);
  EXPECT_EQ(rt_.run(c->command({"PING"})).text, "PONG");
}

TEST_F(RedisConnection, PipelinedGetsFromTwoThreadsAllGetTheirOwnValue) {
  auto c = connect(endpoint());
  testing::expect_pipelined_gets_from_two_threads(
      rt_, *c, [](int k) { return "value" + std::to_string(k); });
}

// Requests outstanding when the server dies fail with an error naming the server; none hangs,
// and the connection refuses later requests at once.
TEST_F(RedisConnection, ServerKilledFailsPendingAndLaterRequests) {
  auto c = connect(endpoint(20s));
  rt_.run(c->set("k", bytes_of("v")));
  auto sleeper = pause_server("5");

  constexpr int requests = 200;
  std::atomic<int> failed{0};
  std::atomic<int> other{0};
  const std::string name = "127.0.0.1:" + std::to_string(server_->port());
  for (int i = 0; i < requests; ++i) {
    rt_.spawn([&]() -> asio::awaitable<void> {
      try {
        co_await c->get("k");
        other++;
      } catch (const std::system_error& e) {
        (std::string(e.what()).find(name) != std::string::npos ? failed : other)++;
      }
    });
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(failed + other, 0) << "the server is asleep; nothing can have been answered";
  server_->stop(SIGKILL);

  ASSERT_TRUE(testing::eventually([&] { return failed + other == requests; }, 10s));
  EXPECT_EQ(failed, requests);
  try {
    rt_.run(c->get("k"));
    ADD_FAILURE() << "a broken connection answered";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::connection_reset);
    EXPECT_NE(std::string(e.what()).find("broken"), std::string::npos) << e.what();
  }
}

TEST_F(RedisConnection, RequestTimesOutWhileTheServerSleeps) {
  auto c = connect(endpoint(100ms));
  auto sleeper = pause_server("1");
  try {
    rt_.run(c->get("k"));
    ADD_FAILURE() << "a get answered while the server slept";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out) << e.what();
  }
  // Broken for good: fails with the reason without waiting for a deadline.
  try {
    rt_.run(c->get("k"));
    ADD_FAILURE() << "a timed-out connection answered";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out) << e.what();
  }
}

TEST_F(RedisConnection, CloseFailsRequestsInFlight) {
  auto c = connect(endpoint(20s));
  auto sleeper = pause_server("1");
  constexpr int requests = 50;
  std::atomic<int> aborted{0};
  std::atomic<int> other{0};
  for (int i = 0; i < requests; ++i) {
    rt_.spawn([&]() -> asio::awaitable<void> {
      try {
        co_await c->get("k");
        other++;
      } catch (const std::system_error& e) {
        (e.code() == std::errc::operation_canceled ? aborted : other)++;
      }
    });
  }
  std::this_thread::sleep_for(50ms);
  c->close();
  ASSERT_TRUE(testing::eventually([&] { return aborted + other == requests; }, 10s));
  EXPECT_EQ(aborted, requests);
}

TEST_F(RedisConnection, DestroyingWithRequestsInFlightFailsThem) {
  auto c = connect(endpoint(20s));
  auto sleeper = pause_server("1");
  constexpr int requests = 50;
  std::atomic<int> failed{0};
  redis_connection* raw = c.get();
  for (int i = 0; i < requests; ++i) {
    rt_.spawn([&, get = raw->get("k")]() mutable -> asio::awaitable<void> {
      try {
        co_await std::move(get);
      } catch (const std::system_error&) {
        failed++;
      }
    });
  }
  std::this_thread::sleep_for(50ms);
  c.reset();
  ASSERT_TRUE(testing::eventually([&] { return failed == requests; }, 10s));
}

TEST_F(RedisConnection, ConnectToAClosedPortNamesIt) {
  redis_endpoint e = endpoint();
  e.port = testing::free_port();
  try {
    connect(e);
    ADD_FAILURE() << "connected to a closed port";
  } catch (const std::system_error& err) {
    EXPECT_EQ(err.code(), std::errc::connection_refused);
    EXPECT_NE(std::string(err.what()).find("127.0.0.1:" + std::to_string(e.port)),
              std::string::npos)
        << err.what();
  }
}

class RedisConnectionWithPassword : public RedisConnection {
 protected:
  RedisConnectionWithPassword() {
    server_ = std::make_unique<redis_server>(std::vector<std::string>{"--requirepass", "secret"});
  }
};

TEST_F(RedisConnectionWithPassword, RightPasswordWorks) {
  redis_endpoint e = endpoint();
  e.password = "secret";
  auto c = connect(e);
  rt_.run(c->set("k", bytes_of("v")));
  EXPECT_EQ(text_of(*rt_.run(c->get("k"))), "v");
}

TEST_F(RedisConnectionWithPassword, WrongPasswordIsAnAuthenticationErrorWithoutThePassword) {
  redis_endpoint e = endpoint();
  e.password = "hunter2-wrong";
  try {
    connect(e);
    ADD_FAILURE() << "a wrong password was accepted";
  } catch (const std::system_error& err) {
    const std::string message = err.what();
    EXPECT_EQ(err.code(), std::errc::permission_denied);
    EXPECT_NE(message.find("authentication failed"), std::string::npos) << message;
    EXPECT_NE(message.find("127.0.0.1:" + std::to_string(e.port)), std::string::npos) << message;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
}

TEST_F(RedisConnectionWithPassword, MissingPasswordFailsTheConnect) {
  EXPECT_THROW(connect(endpoint()), std::system_error);
}

// An ACL user "trainer" with its own password, besides the default user's.
class RedisConnectionWithAclUser : public RedisConnection {
 protected:
  RedisConnectionWithAclUser() {
    server_ = std::make_unique<redis_server>(
        std::vector<std::string>{"--requirepass", "secret", "--user", "trainer", "on",
                                 ">trainer-pass", "~*", "&*", "+@all"});
  }

  void expect_authentication_failure(const redis_endpoint& e) {
    try {
      connect(e);
      ADD_FAILURE() << "a wrong ACL user or password was accepted";
    } catch (const std::system_error& err) {
      const std::string message = err.what();
      EXPECT_EQ(err.code(), std::errc::permission_denied);
      EXPECT_NE(message.find("authentication failed"), std::string::npos) << message;
      EXPECT_NE(message.find("127.0.0.1:" + std::to_string(e.port)), std::string::npos) << message;
      EXPECT_EQ(message.find(*e.password), std::string::npos) << message;
    }
  }
};

TEST_F(RedisConnectionWithAclUser, UserAndPasswordWork) {
  redis_endpoint e = endpoint();
  e.user = "trainer";
  e.password = "trainer-pass";
  auto c = connect(e);
  std::vector<std::string> whoami{"ACL", "WHOAMI"};
  EXPECT_EQ(rt_.run(c->command(std::move(whoami))).text, "trainer");
}

TEST_F(RedisConnectionWithAclUser, WrongUserIsAnAuthenticationError) {
  redis_endpoint e = endpoint();
  e.user = "nobody";
  e.password = "trainer-pass";
  expect_authentication_failure(e);
}

TEST_F(RedisConnectionWithAclUser, WrongPasswordForTheUserIsAnAuthenticationError) {
  redis_endpoint e = endpoint();
  e.user = "trainer";
  e.password = "hunter2-wrong";
  expect_authentication_failure(e);
}

TEST_F(RedisConnectionWithAclUser, AnotherUsersPasswordIsAnAuthenticationError) {
  redis_endpoint e = endpoint();
  e.user = "trainer";
  e.password = "secret";
  expect_authentication_failure(e);
}

}  // namespace
}  // namespace larder
