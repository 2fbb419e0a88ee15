// prefetch_bench: epoch time of a training loop streaming through the cache, with prefetch
// against synchronous reads and against the ideal max(compute, load) x steps (DESIGN.md:
// <= 1.05 x ideal).
//
//  1. Simulated storage of fixed throughput: a batch of 32 reads takes L. Compute per step C, for
//  C/L from 0.25 to 4. Every run streams a
//     dataset the cache has not seen (all loads hit the source).
//  2. Real storage: samples are records of a file read through io_uring with O_DIRECT; prints
//     the queue depth the ring reached.
//
//   build/release/bench/prefetch_bench [--steps N] [--load-ms L] [--prefetch P]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "larder/cache/cache_manager.hpp"
#include "larder/cache/dataset_cache.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t batch_size = 32;

larder::asio::awaitable<void> sleep_for(std::chrono::microseconds d) {
  larder::asio::steady_timer t(co_await larder::asio::this_coro::executor, d);
  co_await t.async_wait(larder::asio::use_awaitable);
}

struct epoch_result {
  double seconds = 0;
  std::size_t max_in_flight = 0;
};

// One epoch: `steps` batches, each followed by `compute` of work.
epoch_result run_epoch(larder::runtime& rt, larder::cache_manager& cache,
                       const larder::dataset_source& source, std::size_t prefetch,
                       std::chrono::microseconds compute) {
  larder::dataset_cache datasets(cache);
  return rt.run([&]() -> larder::asio::awaitable<epoch_result> {
    const auto start = clock_type::now();
    auto stream = datasets.stream_dataset(
        source, {}, {.batch_size = batch_size, .prefetch = prefetch, .shuffle = true, .seed = 1});
    while (auto batch = co_await stream->next())
      co_await sleep_for(compute);
    co_return epoch_result{std::chrono::duration<double>(clock_type::now() - start).count(),
                           stream->stats().max_reads_in_flight};
  }());
}

// Simulated storage with a fixed throughput: one queue that completes a read every L / 32, so a
// batch takes L when the device is idle and reads beyond its throughput wait their turn. (Pure
// latency with unlimited parallelism would let prefetch beat max(C, L).)
class simulated_device {
 public:
  explicit simulated_device(std::chrono::microseconds batch_time)
      : per_read_(batch_time / static_cast<long>(batch_size)) {}

  larder::asio::awaitable<larder::blob> read(std::size_t index) {
    clock_type::time_point done;
    {
      std::lock_guard lock(mu_);
      done = std::max(clock_type::now(), next_done_) + per_read_;
      next_done_ = done;
    }
    larder::asio::steady_timer t(co_await larder::asio::this_coro::executor, done);
    co_await t.async_wait(larder::asio::use_awaitable);
    co_return larder::blob::copy_of(std::string(4096, static_cast<char>('a' + index % 26)));
  }

 private:
  std::chrono::microseconds per_read_;
  std::mutex mu_;
  clock_type::time_point next_done_{};
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t steps = 50;
  double load_ms = 4;
  std::size_t prefetch = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--steps") {
      steps = std::stoul(argv[i + 1]);
    } else if (flag == "--load-ms") {
      load_ms = std::stod(argv[i + 1]);
    } else if (flag == "--prefetch") {
      prefetch = std::stoul(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: prefetch_bench [--steps N] [--load-ms L] [--prefetch P]\n");
      return 2;
    }
  }
  larder::runtime rt({.threads = 2});
  larder::memory_tier_options memory;
  memory.capacity_bytes = 1ull << 30;
  larder::cache_manager cache(rt.executor(), memory);

  const auto load = std::chrono::microseconds(static_cast<long>(load_ms * 1000));
  simulated_device device(load);
  std::printf(
      "simulated storage: %zu steps of %zu samples, load L = %.1f ms per batch, prefetch %zu\n",
      steps, batch_size, load_ms, prefetch);
  std::printf("  %-6s %12s %12s %12s %14s %14s\n", "C/L", "ideal s", "prefetch s", "sync s",
              "prefetch/ideal", "sync/ideal");
  int run = 0;
  for (double ratio : {0.25, 0.5, 1.0, 2.0, 4.0}) {
    const auto compute = std::chrono::microseconds(static_cast<long>(ratio * load_ms * 1000));
    const double ideal = static_cast<double>(steps) * std::max(ratio * load_ms, load_ms) / 1000.0;
    double with = 0;
    double without = 0;
    for (std::size_t p : {prefetch, std::size_t{0}}) {
      // A dataset the cache has never seen: every sample comes from the source.
      const auto source =
          larder::callback_dataset("bench-" + std::to_string(run++), steps * batch_size,
                                   [&device](std::size_t i) { return device.read(i); });
      (p == 0 ? without : with) = run_epoch(rt, cache, source, p, compute).seconds;
    }
    std::printf("  %-6.2f %12.3f %12.3f %12.3f %14.3f %14.3f\n", ratio, ideal, with, without,
                with / ideal, without / ideal);
    cache.memory().clear();
  }

  // Real storage: records of a file through io_uring, nothing cached beforehand.
  const auto dir = std::filesystem::temp_directory_path() / "larder-prefetch-bench";
  std::filesystem::create_directories(dir);
  const auto file = dir / "records.bin";
  {
    std::ofstream out(file, std::ios::binary);
    std::string record(65536, 'x');
    for (std::size_t i = 0; i < steps * batch_size; ++i)
      out.write(record.data(), static_cast<std::streamsize>(record.size()));
  }
  larder::io::ring ring(rt.executor());
  larder::io::ring_file_io file_io(ring);
  const auto records = larder::record_file_dataset(file_io, file, 65536);
  const auto r = run_epoch(rt, cache, records, prefetch, 1ms);
  std::printf(
      "real storage: %zu records of 64 KiB through io_uring (O_DIRECT), compute 1 ms per step: "
      "epoch %.3f s; reads in flight at most %zu, io_uring queue depth reached %llu\n",
      records.size, r.seconds, r.max_in_flight,
      static_cast<unsigned long long>(ring.stats().max_in_flight));
  std::filesystem::remove_all(dir);
  return 0;
}
