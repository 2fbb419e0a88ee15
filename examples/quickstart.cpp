// The shortest useful larder program: a memory cache, a put, a co_await get, and get_or_load
// that reads from "storage" only on a miss.
//
// Build it against an installed larder with:
//   find_package(larder REQUIRED)
//   target_link_libraries(my_trainer PRIVATE larder::larder)
#include <iostream>
#include <string>

#include <larder/cache/cache_manager.hpp>
#include <larder/config/config_loader.hpp>
#include <larder/runtime/runtime.hpp>

larder::asio::awaitable<void> training_step(larder::cache_manager& cache) {
  // Store bytes, read them back: a hit hands out a reference-counted blob, no copy.
  co_await cache.put("tokenizer/vocab", larder::blob::copy_of(std::string_view("a b c")));
  if (auto vocab = co_await cache.get("tokenizer/vocab")) {
    std::cout << "vocab: " << vocab->view() << "\n";
  }

  // Read through the cache: the loader runs once, later calls hit memory.
  auto load_from_disk = []() -> larder::asio::awaitable<larder::blob> {
    co_return larder::blob::copy_of(std::string_view("decoded image bytes"));
  };
  for (int epoch = 0; epoch < 3; ++epoch) {
    larder::blob sample = co_await cache.get_or_load("train/000001", load_from_disk);
    std::cout << "epoch " << epoch << ": " << sample.size() << " bytes\n";
  }
  // The seed's monitoring trio, from a snapshot of every counter.
  const larder::cache_metrics m = co_await cache.get_metrics();
  std::cout << "hit_rate " << m.hit_rate << ", memory_usage " << m.memory_usage
            << " bytes, eviction_count " << m.eviction_count << "\n";
}

int main() {
  larder::runtime rt;  // or use your application's own Asio executor
  larder::cache_manager cache(rt.executor(), larder::default_config());
  rt.run(training_step(cache));
  const auto metrics = cache.metrics();
  std::cout << "hits " << metrics.memory.hits << ", loads " << metrics.loads << "\n";
}
