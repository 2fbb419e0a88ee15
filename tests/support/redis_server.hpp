// A real redis-server for tests: a child process on a free loopback port in a scratch
// directory, stopped (SIGTERM, then SIGKILL) when the object goes away.
#pragma once

#include <arpa/inet.h>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "scratch_directory.hpp"
#include "waiting.hpp"

namespace larder::testing {

// A port nobody listens on right now: the kernel picks it for a socket we then close.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The IPv4 loopback address at `port`.
inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// True when a server on `port` answers an inline PING within 100 ms (with PONG, or NOAUTH when
// it wants a password: either way it is up and awake).
inline bool answers_ping(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const timeval limit{.tv_sec = 0, .tv_usec = 100'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  sockaddr_in addr = loopback(port);
  bool up = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::write(fd, "PING\r\n", 6) == 6) {
    char reply[64] = {};
    up = ::read(fd, reply, sizeof reply - 1) > 0 &&
         (std::strncmp(reply, "+PONG", 5) == 0 || std::strncmp(reply, "-NOAUTH", 7) == 0);
  }
  ::close(fd);
  return up;
}

// True when something accepts a TCP connection on loopback `port`: the readiness check for a TLS
// port, which answers no plain-text PING.
inline bool accepts_connections(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = loopback(port);
  const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return up;
}

// True when nothing listens on loopback `port` and it can be bound right now.
inline bool port_is_free(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = loopback(port);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return free;
}

// A free port for a Redis Cluster node, which also listens on port + 10000 (its cluster bus).
inline std::uint16_t free_cluster_port() {
  for (;;) {
    const std::uint16_t port = free_port();
    if (port <= 65535 - 10000 && port_is_free(static_cast<std::uint16_t>(port + 10000)))
      return port;
  }
}

// A redis-server child process in a scratch directory, stopped with SIGTERM (SIGKILL if it does
// not go) when the object goes away. stop() and start() restart it on the same port in the same
// directory, so a cluster node comes back with its nodes.conf. `ready` tells when a started server
// is up (answers_ping; accepts_connections for a TLS-only server, started with "--port", "0",
// "--tls-port", port among its extra arguments).
class redis_server {
 public:
  explicit redis_server(std::vector<std::string> extra_args = {}, std::uint16_t port = free_port(),
                        bool (*ready)(std::uint16_t) = answers_ping)
      : port_(port), ready_(ready) {
    args_ = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", directory_.path().string(),
             // DEBUG SLEEP pauses the server; Redis 7 refuses DEBUG unless allowed.
             "--enable-debug-command", "yes"};
    args_.insert(args_.end(), extra_args.begin(), extra_args.end());
    start();
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  ~redis_server() { stop(SIGTERM); }

  std::uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }

  // Starts the server (again, after stop()) and waits until it answers.
  void start() {
    if (pid_ > 0) return;
    std::vector<char*> argv;
    for (std::string& a : args_)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      // Quiet: its banner would bury the test output.
      std::freopen("/dev/null", "w", stdout);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    if (!eventually([&] { return ready_(port_); })) {
      ADD_FAILURE() << "redis-server did not come up on port " << port_;
    }
  }

  void stop(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    const bool gone = eventually([&] { return ::waitpid(pid_, &status, WNOHANG) != 0; });
    if (!gone) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

 private:
  scratch_directory directory_;
  std::uint16_t port_;
  std::vector<std::string> args_;
  bool (*ready_)(std::uint16_t);
  pid_t pid_ = -1;
};

}  // namespace larder::testing
