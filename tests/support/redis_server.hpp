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

// True when a server on `port` answers an inline PING within 100 ms (with PONG, or NOAUTH when
// it wants a password: either way it is up and awake).
inline bool answers_ping(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const timeval limit{.tv_sec = 0, .tv_usec = 100'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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

// A redis-server child process in a scratch directory, stopped with SIGTERM (SIGKILL if it does
// not go) when the object goes away.
class redis_server {
 public:
  // On `port`, or a free one when 0 (a restarted server takes its predecessor's port).
  explicit redis_server(std::vector<std::string> extra_args = {}, std::uint16_t port = 0)
      : port_(port != 0 ? port : free_port()) {
    std::vector<std::string> args{"redis-server", "--port", std::to_string(port_), "--bind",
                                  "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize",
                                  "no", "--dir", directory_.path().string(),
                                  // DEBUG SLEEP pauses the server; Redis 7 refuses DEBUG unless
                                  // allowed.
                                  "--enable-debug-command", "yes"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (std::string& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      // Quiet: its banner would bury the test output.
      std::freopen("/dev/null", "w", stdout);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    if (!eventually([&] { return answers_ping(port_); })) {
      ADD_FAILURE() << "redis-server did not come up on port " << port_;
    }
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  ~redis_server() { stop(SIGTERM); }

  std::uint16_t port() const { return port_; }

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
  pid_t pid_ = -1;
};

}  // namespace larder::testing
