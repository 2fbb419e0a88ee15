// Many coroutines on several threads doing get / put / remove / get_or_load on overlapping keys,
// checked against a model of every value ever stored per key. Run under the tsan preset too.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "larder/cache/cache_manager.hpp"
#include "larder/runtime/runtime.hpp"
#include "larder/runtime/when_all.hpp"

namespace larder {
namespace {

constexpr int keys = 48;
constexpr int workers = 16;
constexpr int ops_per_worker = 3000;

// Values name their key, so a value served under the wrong key is caught.
std::string make_value(int key, int worker, int seq, std::size_t pad) {
  std::string v =
      "k" + std::to_string(key) + "|w" + std::to_string(worker) + "|" + std::to_string(seq) + "|";
  v.append(pad, '#');
  return v;
}

class model {
 public:
  void stored(int key, const std::string& value) {
    std::lock_guard lock(mu_);
    values_[key].insert(value);
  }
  bool was_stored(int key, std::string_view value) const {
    std::lock_guard lock(mu_);
    auto it = values_.find(key);
    return it != values_.end() && it->second.count(std::string(value)) > 0;
  }

 private:
  mutable std::mutex mu_;
  std::map<int, std::set<std::string>> values_;
};

// Every policy: their hit paths differ (buffered for lru and wtinylfu, a counter in the entry
// written by readers without the lock for s3fifo and sieve).
class CacheConcurrency : public ::testing::TestWithParam<memory_policy> {};

TEST_P(CacheConcurrency, MixedOperationsOnOverlappingKeysMatchTheModel) {
  runtime rt({.threads = 4});
  memory_tier_options o;
  o.capacity_bytes = 256 << 10;  // small enough that eviction runs all the time
  o.shards = 4;
  o.policy = GetParam();
  cache_manager cache(rt.executor(), o);
  model m;
  std::atomic<int> loader_calls{0};
  std::atomic<int> wrong_values{0};

  auto worker = [&](int id) -> asio::awaitable<void> {
    std::mt19937 rng(static_cast<unsigned>(id));
    for (int seq = 0; seq < ops_per_worker; ++seq) {
      const int key = static_cast<int>(rng() % keys);
      const std::string name = "key" + std::to_string(key);
      switch (rng() % 5) {
        case 0: {
          std::string v = make_value(key, id, seq, rng() % 2000);
          m.stored(key, v);
          co_await cache.put(name, blob::copy_of(v));
          break;
        }
        case 1:
          co_await cache.remove(name);
          break;
        case 2: {
          blob v = co_await cache.get_or_load(name, [&, key, id, seq]() -> asio::awaitable<blob> {
            ++loader_calls;
            std::string loaded = make_value(key, id, seq, 100);
            m.stored(key, loaded);
            co_return blob::copy_of(loaded);
          });
          if (!m.was_stored(key, v.view())) ++wrong_values;
          break;
        }
        case 3:
          if (auto v = co_await cache.get(name); v && !m.was_stored(key, v->view())) {
            ++wrong_values;
          }
          break;
        case 4:
          if (auto v = cache.try_get(name); v && !m.was_stored(key, v->view())) ++wrong_values;
          break;
      }
    }
  };

  rt.run([&]() -> asio::awaitable<void> {
    std::vector<asio::awaitable<void>> all;
    for (int i = 0; i < workers; ++i)
      all.push_back(worker(i));
    co_await when_all(std::move(all));
  }());

  EXPECT_EQ(wrong_values, 0);
  auto stats = cache.metrics();
  EXPECT_EQ(stats.loads, static_cast<std::uint64_t>(loader_calls.load()));
  EXPECT_LE(stats.memory.bytes_used, stats.memory.high_water_bytes);
  // At rest, the byte count is exactly the sum of the charges of what is present.
  std::uint64_t bytes = 0;
  std::uint64_t entries = 0;
  for (int k = 0; k < keys; ++k) {
    const std::string name = "key" + std::to_string(k);
    if (auto v = cache.try_get(name)) {
      EXPECT_TRUE(m.was_stored(k, v->view()));
      bytes += memory_tier::charge_for(name.size(), v->size());
      ++entries;
    }
  }
  EXPECT_EQ(stats.memory.entries, entries);
  EXPECT_EQ(stats.memory.bytes_used, bytes);
}

INSTANTIATE_TEST_SUITE_P(Policies, CacheConcurrency, ::testing::ValuesIn(all_memory_policies),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace larder
