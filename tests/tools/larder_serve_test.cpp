// `larder serve` as an operator runs it: a real process on a real cache directory, stopped with
// SIGTERM.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "scratch_directory.hpp"

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string read_all(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A `larder serve` child process whose stdout and stderr go to a log file.
class serve_process {
 public:
  serve_process(const fs::path& config, fs::path log) : log_(std::move(log)) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(LARDER_COMMAND, LARDER_COMMAND, "serve", "--config", config.c_str(), nullptr);
      ::_exit(127);
    }
  }
  ~serve_process() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  std::string log() const { return read_all(log_); }
  pid_t pid() const { return pid_; }

  // Waits (bounded) until the log contains `text`.
  bool wait_for_log(const std::string& text, std::chrono::seconds limit = 60s) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  // Sends `signal` and returns the exit code (-1 if it did not exit normally within a minute).
  int stop(int signal) {
    ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// The port of the metrics endpoint a serve log announces, nullopt if it announces none.
std::optional<int> metrics_port(const std::string& log) {
  static const std::regex announced{
      R"(larder serve: metrics at http://127\.0\.0\.1:(\d+)/metrics)"};
  std::smatch match;
  if (!std::regex_search(log, match, announced)) return std::nullopt;
  return std::stoi(match[1].str());
}

// The whole response to one `GET path` with Connection: close, read until the server closes.
std::string http_get(int port, const std::string& path) {
  asio::io_context context;
  asio::ip::tcp::socket socket(context);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  asio::write(socket, asio::buffer("GET " + path +
                                   " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
  std::string response;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(response), ec);
  return response;
}

std::string body_of(const std::string& response) {
  const std::size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string{} : response.substr(end + 4);
}

// TCP sockets in LISTEN state that process `pid` holds: the inodes of its socket descriptors
// looked up in the kernel's TCP tables.
int listening_sockets(pid_t pid) {
  std::set<std::string> inodes;
  for (const auto& fd : fs::directory_iterator(fs::path("/proc") / std::to_string(pid) / "fd")) {
    std::error_code ec;
    const std::string target = fs::read_symlink(fd.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  int listening = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the column titles
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (state == "0A" && inodes.count(inode) != 0) ++listening;
    }
  }
  return listening;
}

class LarderServe : public ::testing::Test {
 protected:
  LarderServe() {
    fs::create_directories(temp_dir());
    write_config("{port: 0}");
  }
  // `metrics`: the cache.metrics block. Never a fixed port: the tests run in parallel.
  void write_config(const std::string& metrics) {
    std::ofstream(config()) << "cache:\n"
                               "  memory: {size: 64, cleanup_interval: 1}\n"
                               "  disk: {size: 256, cleanup_interval: 1, path: "
                            << disk().string()
                            << "}\n"
                               "  metrics: "
                            << metrics
                            << "\n"
                               "system_cache:\n"
                               "  temp_dir: "
                            << temp_dir().string()
                            << "\n"
                               "  max_age: 3600\n";
  }
  fs::path config() const { return scratch_.path() / "larder.yaml"; }
  fs::path disk() const { return scratch_.path() / "cache"; }
  fs::path temp_dir() const { return scratch_.path() / "temp"; }

  larder::testing::scratch_directory scratch_;
};

TEST_F(LarderServe, RunsCleanupPassesAndShutsDownCleanlyOnSigterm) {
  // A stale scratch file (two hours old) and a fresh one in the system cache's temp_dir.
  const fs::path stale = temp_dir() / "stale.tmp";
  const fs::path fresh = temp_dir() / "fresh.tmp";
  std::ofstream(stale) << "old";
  std::ofstream(fresh) << "new";
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));

  {
    serve_process serve(config(), scratch_.path() / "serve1.log");
    ASSERT_TRUE(serve.wait_for_log("cache training_cache: disk cleanup")) << serve.log();
    ASSERT_TRUE(serve.wait_for_log("cache model_cache: memory cleanup")) << serve.log();
    ASSERT_TRUE(serve.wait_for_log("cache system_cache: temp_dir")) << serve.log();
    EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.log();
    const std::string log = serve.log();
    EXPECT_NE(log.find("SIGTERM received"), std::string::npos) << log;
    EXPECT_NE(log.find("index snapshots written"), std::string::npos) << log;
  }
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
  // A clean close leaves an index snapshot and no lock holder: a second service opens the same
  // directories from their snapshots and stops as cleanly.
  EXPECT_TRUE(fs::exists(disk() / "training_cache" / "index.snapshot"));
  EXPECT_TRUE(fs::exists(disk() / "model_cache" / "index.snapshot"));
  serve_process again(config(), scratch_.path() / "serve2.log");
  ASSERT_TRUE(again.wait_for_log("stop with SIGINT or SIGTERM")) << again.log();
  EXPECT_EQ(again.stop(SIGINT), 0) << again.log();
}

TEST_F(LarderServe, ABadConfigurationExitsTwoBeforeTouchingAnything) {
  std::ofstream(config()) << "cache:\n  memory: {size: 4XB}\n  disk: {path: " << disk().string()
                          << "}\n";
  serve_process serve(config(), scratch_.path() / "bad.log");
  // It exits by itself; stop() only collects the status (the signal finds it gone).
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(serve.stop(0), 2) << serve.log();
  EXPECT_NE(serve.log().find("cache.memory.size"), std::string::npos) << serve.log();
  EXPECT_FALSE(fs::exists(disk()));
}

}  // namespace

namespace {

TEST_F(LarderServe, ServesPrometheusMetricsAndHealthOnTheAnnouncedPort) {
  serve_process serve(config(), scratch_.path() / "metrics.log");
  ASSERT_TRUE(serve.wait_for_log("stop with SIGINT or SIGTERM")) << serve.log();
  const std::optional<int> port = metrics_port(serve.log());
  ASSERT_TRUE(port) << serve.log();
  EXPECT_EQ(listening_sockets(serve.pid()), 1);

  const std::string metrics = http_get(*port, "/metrics");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << metrics;
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos)
      << metrics;
  const std::string body = body_of(metrics);
  EXPECT_NE(body.find("# TYPE larder_hits_total counter\n"), std::string::npos) << body;
  EXPECT_NE(body.find("larder_hits_total{cache=\"model_cache\",tier=\"memory\"} 0\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("larder_capacity_bytes{cache=\"training_cache\",tier=\"disk\"} "),
            std::string::npos)
      << body;

  // The exposition format as Prometheus's own checker reads it, lint included.
  const fs::path scraped = scratch_.path() / "scraped.prom";
  std::ofstream(scraped) << body;
  const std::string check = "promtool check metrics < " + scraped.string() + " > " +
                            (scratch_.path() / "promtool.out").string() + " 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << read_all(scratch_.path() / "promtool.out") << body;

  const std::string health = http_get(*port, "/healthz");
  EXPECT_EQ(health.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << health;
  EXPECT_EQ(body_of(health), "ok\n");

  EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.log();
}

TEST_F(LarderServe, WithMetricsDisabledListensOnNoPort) {
  write_config("{enabled: false, port: 0}");
  serve_process serve(config(), scratch_.path() / "disabled.log");
  ASSERT_TRUE(serve.wait_for_log("stop with SIGINT or SIGTERM")) << serve.log();
  EXPECT_FALSE(metrics_port(serve.log())) << serve.log();
  EXPECT_EQ(listening_sockets(serve.pid()), 0);
  EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.log();
}

TEST_F(LarderServe, AMetricsPortInUseExitsOneNamingItAndClosesTheCaches) {
  serve_process first(config(), scratch_.path() / "first.log");
  ASSERT_TRUE(first.wait_for_log("stop with SIGINT or SIGTERM")) << first.log();
  const std::optional<int> port = metrics_port(first.log());
  ASSERT_TRUE(port) << first.log();

  // Other cache directories (the first serve holds its own), the port the first one bound.
  larder::testing::scratch_directory other;
  const fs::path second_config = other.path() / "larder.yaml";
  std::ofstream(second_config) << "cache:\n  disk: {path: " << (other.path() / "cache").string()
                               << "}\n  metrics: {port: " << *port
                               << "}\nsystem_cache: {temp_dir: " << (other.path() / "temp").string()
                               << "}\n";
  serve_process second(second_config, other.path() / "second.log");
  // It exits by itself; stop() only collects the status.
  ASSERT_TRUE(second.wait_for_log("metrics endpoint: cannot bind")) << second.log();
  EXPECT_EQ(second.stop(0), 1) << second.log();
  EXPECT_NE(second.log().find("127.0.0.1:" + std::to_string(*port)), std::string::npos)
      << second.log();
  EXPECT_TRUE(fs::exists(other.path() / "cache" / "model_cache" / "index.snapshot"));
  EXPECT_EQ(first.stop(SIGTERM), 0) << first.log();
}

}  // namespace
