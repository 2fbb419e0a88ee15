// cache_manager: the cache a training loop talks to (the seed's CacheManager).
//
// Callers co_await its operations on an Asio executor:
//
//   auto value = co_await cache.get("sample/42");                  // optional<blob>
//   co_await cache.put("sample/42", blob::copy_of(bytes));
//   blob b = co_await cache.get_or_load("sample/42", load_sample);  // loads once per key
//
// Tiers: memory, then (when opened with cache_manager::open) the persistent disk tier, then the
// shared remote tier on Redis when cache.remote is enabled (remote/remote_tier.hpp), then the
// caller's loader. A disk hit is promoted to memory; a remote hit to memory and disk. What the
// cache loads or is given is published to the remote tier when it uses the tier read_write. Writes
// reach the disk either on every put (write_through: a persistent dataset or model cache) or when
// memory evicts an entry (write_on_evict: the disk holds what memory cannot).
//
// The hit path. try_get() is a plain function. get() checks memory before anything can suspend:
// a memory hit completes without going back to the executor and without allocating (the
// coroutine frame comes from Asio's per-thread frame recycler).
//
// Loads. get_or_load() runs the loader at most once per key at a time: concurrent misses of one
// key wait for the first caller's load and share its value, or its exception. A loader is any
// callable returning asio::awaitable<blob>.
//
// Cleanup. start() schedules the cache's cleanup passes (cleanup_settings: TTL expiry and the
// policy's pass on the memory tier at one interval, compaction and orphan removal on the disk
// tier at another), each pass logged with what it removed and why; stop() ends them, waiting
// for a pass in progress. cleanup() runs one pass of both now.
//
// Errors. A miss is std::nullopt, not an error. An exception from a loader reaches every caller
// waiting on that load and nothing is stored. Configuration errors throw from the constructor
// or open(). A failing disk never throws from get/put: the disk tier degrades to memory only
// (logged, in metrics()). flush(), where a caller asks for durability, throws std::system_error.
//
// Thread safety: every member function may be called concurrently from any thread; the object
// must outlive the operations started on it. Keys passed as std::string_view must stay valid
// until the co_await on the operation completes (always true for `co_await op(key)`).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include <larder/cache/blob.hpp>
#include <larder/cache/cache_metrics.hpp>
#include <larder/cache/cleanup_settings.hpp>
#include <larder/cache/codec.hpp>
#include <larder/cache/disk_tier.hpp>
#include <larder/cache/memory_tier.hpp>
#include <larder/cache/put_options.hpp>
#include <larder/config/cache_config.hpp>
#include <larder/runtime/asio.hpp>
#include <larder/runtime/single_flight.hpp>

namespace larder {

class scheduler;
class remote_tier;

enum class write_mode { write_through, write_on_evict };

struct tiering_options {
  write_mode mode = write_mode::write_through;
  // Region size of a new disk directory (an existing one keeps its own; see disk_tier).
  std::uint64_t region_size = 32ull << 20;
  // The I/O the disk tier uses; null: an io_uring ring the cache owns. Tests pass a
  // fault-injecting one. Must outlive the cache.
  io::file_io* file_io = nullptr;
  // false: no disk tier (memory, and the remote tier if configured).
  bool with_disk = true;
  // The cache's name in logs and in its remote-tier keys, and how it uses the remote tier when
  // cache.remote is enabled (nullopt: cache.remote.mode).
  std::string cache_name = "cache";
  std::optional<remote_use> remote = std::nullopt;
};

// What one cleanup pass removed, per tier.
struct cleanup_report {
  memory_cleanup_report memory;
  std::optional<disk_cleanup_report> disk;  // when the cache has a disk tier
};

class cache_manager {
 public:
  using executor_type = asio::any_io_executor;

  // A cache with the memory settings of `config` (memory.size, memory.type, memory.max_items,
  // eviction_threshold).
  cache_manager(executor_type executor, const cache_config& config);
  cache_manager(executor_type executor, memory_tier_options memory);

  // A cache with a memory tier and a disk tier (disk.path, disk.size, memory.compression), and a
  // remote tier when cache.remote is enabled, as `config` says. Throws config or
  // disk::directory_error errors (directory in use, unknown format), and std::system_error when
  // the remote tier refuses the credentials (an unreachable one is not an error: remote_tier.hpp).
  // The caller co_awaits close() before destroying it for a fast reopen.
  static asio::awaitable<std::unique_ptr<cache_manager>> open(executor_type executor,
                                                              const cache_config& config,
                                                              tiering_options tiering = {});
  ~cache_manager();

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

  // Removes every entry from memory. The disk tier's entries stay: remove() them by key.
  asio::awaitable<void> clear();

  // The durability point: everything put before it survives a crash. Throws std::system_error
  // when the disk tier cannot make it so. Without a disk tier there is nothing to do.
  asio::awaitable<void> flush();

  // Flushes and writes the disk tier's index snapshot, for a fast reopen. Throws like flush().
  asio::awaitable<void> close();

  // Whether key is in the memory tier. Not an access: eviction order does not change.
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

  // Schedules cleanup with `settings` on a scheduler of the cache's own (on its executor);
  // stop() ends it. REQUIRES: not started.
  void start(cleanup_settings settings);
  // Schedules cleanup on `on`, shared with other caches: stopping `on` ends it, and `on` must
  // be stopped before this cache is destroyed. REQUIRES: not started.
  void start(scheduler& on, cleanup_settings settings);
  // Ends cleanup scheduled by start(settings), waiting for a pass in progress. Blocks: call it
  // from outside the executor's threads. Does nothing when not started or started on a shared
  // scheduler.
  void stop();

  // One cleanup pass of each tier now, with `settings`; logged like a scheduled pass.
  asio::awaitable<cleanup_report> cleanup(const cleanup_settings& settings);
  memory_cleanup_report clean_memory(const cleanup_settings& settings);
  asio::awaitable<std::optional<disk_cleanup_report>> clean_disk(const cleanup_settings& settings);

  // Design note: cache_metrics.hpp. metrics() reads each tier's counters (briefly taking every
  // memory shard's lock in turn); get_metrics() is the same for a caller on the executor, as the
  // seed's `await cache.get_metrics()`.
  cache_metrics metrics() const;
  asio::awaitable<cache_metrics> get_metrics() const;

  // A dataset stream delivered a batch after its consumer waited `waited` for it (dataset_cache).
  void record_stream_batch(std::chrono::nanoseconds waited) noexcept;
  memory_tier& memory() noexcept { return memory_; }
  disk_tier* disk() noexcept { return disk_.get(); }
  remote_tier* remote() noexcept { return remote_.get(); }

 private:
  cache_manager(executor_type executor, memory_tier_options memory, write_mode mode);
  asio::awaitable<void> open_disk(const cache_config& config, const tiering_options& tiering);

  // What a get_or_load flight hands its callers: the value, and whether the loader made it.
  struct loaded_value {
    blob value;
    bool from_loader = false;
  };
  template <typename Loader>
  asio::awaitable<loaded_value> load_and_store(std::string_view key, Loader& loader,
                                               put_options options);
  asio::awaitable<std::optional<blob>> get_from_memory(std::string_view key);
  asio::awaitable<std::optional<blob>> get_from_tiers(std::string_view key);
  // The value of the tiers below memory (disk, then remote), promoted; one read for concurrent
  // callers.
  asio::awaitable<std::optional<blob>> read_through_lower_tiers(std::string_view key);
  asio::awaitable<std::optional<blob>> read_lower_tiers_and_promote(std::string_view key);
  // Writes through to the disk tier when the mode says so.
  asio::awaitable<void> store_on_disk(std::string_view key, const blob& value,
                                      const put_options& options);
  // Hands a new value to the remote tier, if the cache has one (it publishes in the background).
  void publish_remote(std::string_view key, const blob& value, const put_options& options);

  executor_type executor_;
  write_mode mode_ = write_mode::write_through;
  // Declared before the tiers: destroyed after them.
  std::unique_ptr<io::ring> ring_;
  std::unique_ptr<io::file_io> ring_io_;
  std::unique_ptr<disk_tier> disk_;
  std::unique_ptr<remote_tier> remote_;
  memory_tier memory_;
  single_flight<loaded_value> loads_;
  // Reads below memory: the disk tier, then the remote tier.
  single_flight<std::optional<blob>> disk_reads_;
  // Written on misses and per stream batch only: the hit path counts in the memory tier's
  // per-thread slots.
  std::atomic<std::uint64_t> load_count_{0};
  std::atomic<std::uint64_t> hits_below_memory_{0};
  std::atomic<std::uint64_t> stream_batches_{0};
  std::atomic<std::int64_t> stream_stall_ns_{0};
  std::unique_ptr<scheduler> own_scheduler_;  // from start(settings)
  bool started_ = false;
};

}  // namespace larder

#include <larder/cache/impl/cache_manager.hpp>
