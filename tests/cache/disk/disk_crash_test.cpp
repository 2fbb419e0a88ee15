// Crash recovery with real processes: a child writes to a disk tier, flushing now and then and
// reporting each completed flush through a pipe; the parent kills it with SIGKILL at a random
// moment, reopens the directory, and checks that every flushed entry is there with its exact
// bytes and that nothing it reads is wrong. Many rounds on one directory.
#include <chrono>
#include <cstdio>
#include <random>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "larder/cache/disk_tier.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

constexpr int rounds = 12;
constexpr int keys_per_round = 100000;  // key space of a round; a child writes far fewer
constexpr int puts_per_flush = 16;

std::string key_for(int i) {
  return "crash/" + std::to_string(i);
}

// Sizes vary so that entries straddle blocks and regions at every possible offset.
std::string value_for(int i) {
  std::mt19937 rng(static_cast<unsigned>(i) * 2654435761u);
  std::string v = std::to_string(i) + ":";
  v.resize(100 + rng() % 9000, static_cast<char>('a' + i % 26));
  return v;
}

disk_tier_options options_for(const std::filesystem::path& dir) {
  disk_tier_options o;
  o.path = dir;
  o.region_size = 256 << 10;
  o.capacity_bytes = 4096ull << 20;  // never reclaims: every flushed entry must survive
  o.compression = true;
  return o;
}

// The child: writes keys first, first+1, ... until killed; after each flush writes the index of
// the last flushed key to `report`.
[[noreturn]] void write_until_killed(const std::filesystem::path& dir, int first, int report) {
  runtime rt({.threads = 1});
  io::ring ring(rt.executor());
  io::ring_file_io file_io(ring);
  rt.run([&]() -> asio::awaitable<void> {
    auto tier = co_await disk_tier::open(rt.executor(), file_io, options_for(dir));
    for (int i = first;; ++i) {
      const std::string value = value_for(i);
      co_await tier->put(key_for(i), std::as_bytes(std::span(value)));
      if ((i - first) % puts_per_flush == puts_per_flush - 1) {
        if (co_await tier->flush()) ::_exit(3);
        const std::string line = std::to_string(i) + "\n";
        if (::write(report, line.data(), line.size()) < 0) ::_exit(4);
      }
    }
  }());
  ::_exit(2);
}

TEST(DiskCrash, EveryFlushedEntrySurvivesSigkillAndNothingReadIsWrong) {
  testing::scratch_directory scratch;
  const auto dir = scratch.path() / "cache";
  std::mt19937 rng(2024);
  std::vector<std::pair<int, int>> flushed;  // per round: [first, last flushed]
  for (int round = 0; round < rounds; ++round) {
    const int first = round * keys_per_round;
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      write_until_killed(dir, first, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    // Let it complete a random number of flushes, then kill it a random moment later, most
    // likely in the middle of puts, writes or a flush.
    FILE* reports = ::fdopen(pipe_fds[0], "r");
    const int wanted = 1 + static_cast<int>(rng() % 8);
    int last_flushed = first - 1;
    char line[64];
    for (int seen = 0; seen < wanted && std::fgets(line, sizeof line, reports); ++seen) {
      last_flushed = std::stoi(line);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    // Flushes that completed before the kill may still be in the pipe.
    while (std::fgets(line, sizeof line, reports))
      last_flushed = std::stoi(line);
    std::fclose(reports);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer stopped by itself, status " << status;
    ASSERT_GE(last_flushed, first) << "round " << round << ": the writer never flushed";
    flushed.emplace_back(first, last_flushed);

    // Reopen (a scan: there was no clean close) and check every round so far.
    runtime rt({.threads = 2});
    io::ring ring(rt.executor());
    io::ring_file_io file_io(ring);
    auto tier = rt.run(disk_tier::open(rt.executor(), file_io, options_for(dir)));
    EXPECT_TRUE(tier->stats().recovered_by_scan);
    for (auto [lo, hi] : flushed) {
      for (int i = lo; i <= hi; ++i) {
        auto v = rt.run(tier->get(key_for(i)));
        ASSERT_TRUE(v) << "round " << round << ": flushed key " << i << " lost";
        ASSERT_EQ(v->view(), value_for(i)) << "round " << round << ": key " << i;
      }
      // Beyond the last reported flush: present or not, but never wrong.
      for (int i = hi + 1; i < hi + 64; ++i) {
        if (auto v = rt.run(tier->get(key_for(i)))) {
          ASSERT_EQ(v->view(), value_for(i));
        }
      }
    }
    EXPECT_EQ(tier->stats().checksum_failures, 0u);
  }
}

}  // namespace
}  // namespace larder
