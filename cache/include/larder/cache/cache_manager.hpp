// cache_manager: the cache a training loop talks to (the seed's CacheManager).
//
// Callers co_await its operations on an Asio executor:
//
//   auto value = co_await cache.get("sample/42");                  // optional<blob>
//   co_await cache.put("sample/42", blob::copy_of(bytes));
//   blob b = co_await cache.get_or_load("sample/42", load_sample);  // loads once per key
//
// Today the cache has one tier, memory; a persistent disk tier comes next and slots in behind
// the same calls.
//
// The hit path. try_get() is a plain function. get() checks memory before anything can suspend:
// a memory hit completes without going back to the executor and without allocating (the
// coroutine frame comes from Asio's per-thread frame recycler).
//
// Loads. get_or_load() runs the loader at most once per key at a time: concurrent misses of one
// key wait for the first caller's load and share its value, or its exception. A loader is any
// callable returning asio::awaitable<blob>.
//
// Errors. A miss is std::nullopt, not an error. An exception from a loader reaches every caller
// waiting on that load and nothing is stored. Configuration errors throw from the constructor.
//
// Thread safety: every member function may be called concurrently from any thread; the object
// must outlive the operations started on it. Keys passed as std::string_view must stay valid
// until the co_await on the operation completes (always true for `co_await op(key)`).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include <larder/cache/blob.hpp>
#include <larder/cache/codec.hpp>
#include <larder/cache/memory_tier.hpp>
#include <larder/cache/put_options.hpp>
#include <larder/config/cache_config.hpp>
#include <larder/runtime/asio.hpp>
#include <larder/runtime/single_flight.hpp>

namespace larder {

struct cache_stats {
  memory_tier_stats memory;
  // Loader calls made by get_or_load, and the callers that shared another caller's load.
  std::uint64_t loads = 0;
  std::uint64_t coalesced_loads = 0;
};

class cache_manager {
 public:
  using executor_type = asio::any_io_executor;

  // A cache with the memory settings of `config` (memory.size, memory.type, memory.max_items,
  // eviction_threshold).
  cache_manager(executor_type executor, const cache_config& config);
  cache_manager(executor_type executor, memory_tier_options memory);

  executor_type get_executor() const noexcept { return executor_; }

  // The memory tier's value for key, synchronously. Never suspends, never allocates.
  std::optional<blob> try_get(std::string_view key) { return memory_.get(key); }

  // The cached value for key, or nullopt.
  asio::awaitable<std::optional<blob>> get(std::string_view key);

  // Stores value under key. Returns false when the value could not be stored (larger than the
  // memory tier's high-water mark).
  asio::awaitable<bool> put(std::string_view key, blob value, put_options options = {});

  // Removes key from every tier; returns whether it was cached.
  asio::awaitable<bool> remove(std::string_view key);

  // Removes every entry.
  asio::awaitable<void> clear();

  // Whether key is cached. Not an access: eviction order does not change.
  bool contains(std::string_view key) const { return memory_.contains(key); }

  // The cached value for key; on a miss, co_awaits loader() once for all concurrent callers of
  // this key, stores its value with `options`, and returns it to each of them.
  template <typename Loader>
  asio::awaitable<blob> get_or_load(std::string_view key, Loader loader, put_options options = {});

  // Typed access through codec<T>. get_as throws codec_error when the stored bytes do not decode.
  template <typename T>
  asio::awaitable<std::optional<T>> get_as(std::string_view key);
  template <typename T>
  asio::awaitable<bool> put_as(std::string_view key, const T& value, put_options options = {});

  cache_stats stats() const;
  memory_tier& memory() noexcept { return memory_; }

 private:
  template <typename Loader>
  asio::awaitable<blob> load_and_store(std::string_view key, Loader& loader, put_options options);

  executor_type executor_;
  memory_tier memory_;
  single_flight<blob> loads_;
  std::atomic<std::uint64_t> load_count_{0};
};

}  // namespace larder

#include <larder/cache/impl/cache_manager.hpp>
