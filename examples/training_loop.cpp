// training_loop: an asynchronous training loop that streams a dataset of files through a larder
// cache, with a preprocessing step, prefetch and both tiers. Self-contained: it writes its
// dataset and its cache under a temporary directory and removes them at the end.
//
//   build/release/examples/training_loop
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <larder/cache/cache_manager.hpp>
#include <larder/cache/dataset_cache.hpp>
#include <larder/io/ring.hpp>
#include <larder/runtime/runtime.hpp>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

larder::asio::awaitable<void> compute_step(std::chrono::milliseconds d) {
  larder::asio::steady_timer t(co_await larder::asio::this_coro::executor, d);
  co_await t.async_wait(larder::asio::use_awaitable);
}

// The preprocessing: its version string is part of every cache key, so changing the function
// and its version never serves samples preprocessed the old way.
larder::asio::awaitable<larder::blob> normalize(larder::blob raw, std::size_t) {
  std::string s(raw.view());
  for (char& c : s)
    c = static_cast<char>(c ^ 0x20);
  co_return larder::blob::copy_of(s);
}

int main() {
  const fs::path work = fs::temp_directory_path() / "larder-training-loop-example";
  fs::remove_all(work);
  fs::create_directories(work / "samples");
  for (int i = 0; i < 500; ++i)
    std::ofstream(work / "samples" / ("sample-" + std::to_string(1000 + i) + ".bin"))
        << std::string(16384, static_cast<char>('a' + i % 26));

  larder::runtime rt({.threads = 2});
  larder::cache_config config;  // the embedded defaults, with the disk tier under `work`
  config.disk.path = work / "cache";
  config.disk.size_bytes = 256ull << 20;
  auto cache = rt.run(larder::cache_manager::open(rt.executor(), config));
  larder::io::ring ring(rt.executor());
  larder::io::ring_file_io file_io(ring);

  larder::dataset_cache datasets(*cache);
  const auto source = larder::directory_dataset(file_io, work / "samples");
  const larder::preprocess_step step{"normalize-v1", normalize};

  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    const auto before = cache->metrics();
    const auto start = std::chrono::steady_clock::now();
    rt.run([&]() -> larder::asio::awaitable<void> {
      auto stream = datasets.stream_dataset(
          source, step, {.batch_size = 32, .prefetch = 4, .seed = 7, .epoch = epoch});
      while (auto batch = co_await stream->next())
        co_await compute_step(2ms);  // the model's step on batch->samples
    }());
    const auto after = cache->metrics();
    std::printf("epoch %llu: %.2f s, %llu memory hits, %llu loads from the files\n",
                static_cast<unsigned long long>(epoch + 1),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                static_cast<unsigned long long>(after.memory.hits - before.memory.hits),
                static_cast<unsigned long long>(after.loads - before.loads));
  }
  rt.run(cache->close());
  cache.reset();
  fs::remove_all(work);
  return 0;
}
