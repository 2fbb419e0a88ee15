// The hit path's two promises, checked by counting: a memory hit allocates nothing, and a
// co_await get() that hits never goes back to the executor (no handler is scheduled for it).
#include <atomic>
#include <cstdlib>
#include <new>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "larder/cache/cache_manager.hpp"

// The replacement operator delete frees with free() what the replacement operator new took with
// malloc(); GCC cannot see that the two are paired.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
// Counts operator new calls made by the thread that armed the counter.
thread_local bool counting = false;
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (counting) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace larder {
namespace {

struct allocation_counter {
  allocation_counter() {
    allocations = 0;
    counting = true;
  }
  ~allocation_counter() { counting = false; }
  long count() const { return allocations.load(); }
};

memory_tier_options small_tier(memory_policy policy = memory_policy::lru) {
  memory_tier_options o;
  o.capacity_bytes = 1 << 20;
  o.policy = policy;
  return o;
}

// Every policy: hits go to per-thread buffers (lru, wtinylfu), into the entry (s3fifo, sieve),
// or nowhere (fifo); none of them may allocate.
class HitPathPolicies : public ::testing::TestWithParam<memory_policy> {};

TEST_P(HitPathPolicies, TryGetHitDoesNotAllocate) {
  asio::io_context ctx;
  cache_manager cache(ctx.get_executor(), small_tier(GetParam()));
  cache.memory().put("sample/000001", blob::copy_of(std::string_view("bytes")));
  long allocated = 0;
  {
    allocation_counter counter;
    for (int i = 0; i < 1000; ++i)
      ASSERT_TRUE(cache.try_get("sample/000001"));
    allocated = counter.count();
  }
  EXPECT_EQ(allocated, 0);
}

INSTANTIATE_TEST_SUITE_P(Policies, HitPathPolicies, ::testing::ValuesIn(all_memory_policies),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// Runs n hits inside one coroutine; returns {allocations during the hits, handlers run}.
std::pair<long, std::size_t> run_hits(int n, bool via_get_or_load) {
  asio::io_context ctx;
  cache_manager cache(ctx.get_executor(), small_tier());
  cache.memory().put("sample/000001", blob::copy_of(std::string_view("bytes")));
  long allocated = -1;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto never = []() -> asio::awaitable<blob> { throw std::logic_error("loader ran"); };
        // Warm Asio's per-thread frame cache, then count.
        co_await cache.get("sample/000001");
        co_await cache.get_or_load("sample/000001", never);
        allocation_counter counter;
        for (int i = 0; i < n; ++i) {
          if (via_get_or_load) {
            blob b = co_await cache.get_or_load("sample/000001", never);
            if (b.size() != 5) co_return;
          } else {
            auto b = co_await cache.get("sample/000001");
            if (!b) co_return;
          }
        }
        allocated = counter.count();
      },
      asio::detached);
  const std::size_t handlers = ctx.run();
  return {allocated, handlers};
}

TEST(HitPath, CoAwaitGetHitDoesNotAllocateOrSuspend) {
  auto [alloc_few, handlers_few] = run_hits(10, false);
  auto [alloc_many, handlers_many] = run_hits(10000, false);
  EXPECT_EQ(alloc_few, 0);
  EXPECT_EQ(alloc_many, 0);
  // If a hit went back to the executor, 10000 hits would run more handlers than 10 do.
  EXPECT_EQ(handlers_few, handlers_many);
}

TEST(HitPath, GetOrLoadHitDoesNotAllocateOrSuspend) {
  auto [alloc_few, handlers_few] = run_hits(10, true);
  auto [alloc_many, handlers_many] = run_hits(10000, true);
  EXPECT_EQ(alloc_few, 0);
  EXPECT_EQ(alloc_many, 0);
  EXPECT_EQ(handlers_few, handlers_many);
}

}  // namespace
}  // namespace larder
