// `larder serve` as an operator runs it: a real process on a real cache directory, stopped with
// SIGTERM.
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "scratch_directory.hpp"

namespace {

namespace fs = std::filesystem;
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

class LarderServe : public ::testing::Test {
 protected:
  LarderServe() {
    fs::create_directories(temp_dir());
    std::ofstream(config()) << "cache:\n"
                               "  memory: {size: 64, cleanup_interval: 1}\n"
                               "  disk: {size: 256, cleanup_interval: 1, path: "
                            << disk().string()
                            << "}\n"
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
