#include "larder/cache/cache_manager.hpp"

#include <system_error>

#include "larder/cache/remote/remote_tier.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/log.hpp"
#include "larder/scheduler/scheduler.hpp"

namespace larder {
namespace {

std::chrono::system_clock::time_point disk_expiry(const put_options& options) {
  if (options.ttl.count() <= 0) return {};
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(options.ttl);
}

}  // namespace

cache_manager::cache_manager(executor_type executor, const cache_config& config)
    : cache_manager(std::move(executor), memory_tier_options::from_config(config)) {}

cache_manager::cache_manager(executor_type executor, memory_tier_options memory)
    : cache_manager(std::move(executor), std::move(memory), write_mode::write_through) {}

cache_manager::cache_manager(executor_type executor, memory_tier_options memory, write_mode mode)
    : executor_(std::move(executor)), mode_(mode), memory_([&] {
        if (mode == write_mode::write_on_evict) {
          // Memory evictions go to the disk tier, if there is one; a full or failing disk
          // refuses them (try_put never waits) and the entry is simply gone.
          memory.on_evict = [this](std::string_view key, const blob& value,
                                   std::chrono::steady_clock::time_point expires_at) {
            if (!disk_) return;
            std::chrono::system_clock::time_point wall{};
            if (expires_at != std::chrono::steady_clock::time_point{}) {
              wall = std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         expires_at - std::chrono::steady_clock::now());
            }
            disk_->try_put(key, value.bytes(), wall);
          };
        }
        return std::move(memory);
      }()) {
  log().info("cache: memory tier {} MB, policy {}, {} shard(s), high-water {} MB",
             memory_.capacity_bytes() / 1000000, to_string(memory_.policy()), memory_.shard_count(),
             memory_.high_water_bytes() / 1000000);
}

cache_manager::~cache_manager() {
  stop();
}

cleanup_settings cleanup_settings::from_config(const cache_config& config) {
  cleanup_settings s;
  s.memory.policy =
      config.memory.policy == memory_policy::fifo ? cleanup_policy::fifo : cleanup_policy::lru;
  s.memory.eviction_threshold = config.eviction_threshold;
  s.memory_interval = config.memory.cleanup_interval;
  s.disk_interval = config.disk.cleanup_interval;
  return s;
}

void cache_manager::start(cleanup_settings settings) {
  if (started_) throw std::logic_error("cache_manager::start: cleanup is already scheduled");
  own_scheduler_ = std::make_unique<scheduler>(executor_);
  start(*own_scheduler_, std::move(settings));
}

void cache_manager::start(scheduler& on, cleanup_settings settings) {
  if (started_) throw std::logic_error("cache_manager::start: cleanup is already scheduled");
  started_ = true;
  const auto memory_task = settings.cache_name + " memory cleanup";
  on.schedule(memory_task, {.interval = settings.memory_interval, .jitter = settings.jitter},
              [this, settings]() -> asio::awaitable<void> {
                clean_memory(settings);
                co_return;
              });
  if (disk_) {
    on.schedule(settings.cache_name + " disk cleanup",
                {.interval = settings.disk_interval, .jitter = settings.jitter},
                [this, settings]() -> asio::awaitable<void> { co_await clean_disk(settings); });
  }
  const double memory_seconds = std::chrono::duration<double>(settings.memory_interval).count();
  if (disk_) {
    log().info("cache {}: cleanup scheduled: memory every {:g} s ({}), disk every {:g} s",
               settings.cache_name, memory_seconds, to_string(settings.memory.policy),
               std::chrono::duration<double>(settings.disk_interval).count());
  } else {
    log().info("cache {}: cleanup scheduled: memory every {:g} s ({})", settings.cache_name,
               memory_seconds, to_string(settings.memory.policy));
  }
}

void cache_manager::stop() {
  if (own_scheduler_) {
    own_scheduler_->stop();
    own_scheduler_.reset();
    started_ = false;
  }
}

memory_cleanup_report cache_manager::clean_memory(const cleanup_settings& settings) {
  const memory_cleanup_report r = clean_memory_tier(memory_, settings.memory);
  const auto removed = r.expired + r.aged_out + r.evicted;
  if (removed == 0) {
    log().info("cache {}: memory cleanup: nothing to remove ({} MB used)", settings.cache_name,
               r.bytes_after / 1000000);
    return r;
  }
  log().info(
      "cache {}: memory cleanup ({}): {} expired (TTL), {} older than max_age, {} evicted by "
      "policy; {} -> {} bytes",
      settings.cache_name, to_string(settings.memory.policy), r.expired, r.aged_out, r.evicted,
      r.bytes_before, r.bytes_after);
  return r;
}

asio::awaitable<std::optional<disk_cleanup_report>> cache_manager::clean_disk(
    const cleanup_settings& settings) {
  if (!disk_) co_return std::nullopt;
  const disk_cleanup_report r = co_await disk_->cleanup();
  if (r.error) {
    log().error("cache {}: disk cleanup stopped: {}", settings.cache_name, r.error.message());
  }
  if (r.regions_expired + r.regions_compacted + r.regions_over_budget + r.orphans_removed +
          r.expired_dropped ==
      0) {
    log().info("cache {}: disk cleanup: nothing to reclaim", settings.cache_name);
  } else {
    log().info(
        "cache {}: disk cleanup: {} region(s) of expired entries dropped, {} sparse region(s) "
        "compacted ({} live entries, {} bytes moved; {} expired dropped), {} region(s) over "
        "budget dropped, {} orphaned file(s) removed",
        settings.cache_name, r.regions_expired, r.regions_compacted, r.entries_moved, r.bytes_moved,
        r.expired_dropped, r.regions_over_budget, r.orphans_removed);
  }
  co_return r;
}

asio::awaitable<cleanup_report> cache_manager::cleanup(const cleanup_settings& settings) {
  cleanup_report report;
  report.memory = clean_memory(settings);
  report.disk = co_await clean_disk(settings);
  co_return report;
}

asio::awaitable<void> cache_manager::open_disk(const cache_config& config,
                                               const tiering_options& tiering) {
  io::file_io* file_io = tiering.file_io;
  if (file_io == nullptr) {
    ring_ = std::make_unique<io::ring>(executor_);
    ring_io_ = std::make_unique<io::ring_file_io>(*ring_);
    file_io = ring_io_.get();
  }
  disk_tier_options disk;
  disk.path = config.disk.path;
  disk.capacity_bytes = config.disk.size_bytes;
  disk.region_size = tiering.region_size;
  disk.compression = config.memory.compression;
  disk.reinsertion = config.disk.reinsertion;
  disk_ = co_await disk_tier::open(executor_, *file_io, disk);
  const auto s = disk_->stats();
  log().info("cache: disk tier {} ({} MB, {}), {} entries in {} region(s){}",
             config.disk.path.string(), config.disk.size_bytes / 1000000,
             tiering.mode == write_mode::write_through ? "write-through" : "write-on-evict",
             s.entries, s.regions, s.recovered_by_scan ? ", recovered by scanning" : "");
}

asio::awaitable<std::unique_ptr<cache_manager>> cache_manager::open(executor_type executor,
                                                                    const cache_config& config,
                                                                    tiering_options tiering) {
  std::unique_ptr<cache_manager> cache(
      new cache_manager(executor, memory_tier_options::from_config(config), tiering.mode));
  if (tiering.with_disk) co_await cache->open_disk(config, tiering);
  const remote_use use = tiering.remote.value_or(config.remote.mode);
  if (config.remote.enabled && use != remote_use::off) {
    cache->remote_ = co_await remote_tier::open(
        executor, remote_tier_options::from_config(config, tiering.cache_name, use));
  }
  co_return cache;
}

// Not a coroutine itself: it picks one. A cache without a disk tier gets a coroutine with no
// suspension point at all, whose frame Asio sets up and tears down the cheapest way.
asio::awaitable<std::optional<blob>> cache_manager::get(std::string_view key) {
  return disk_ || remote_ ? get_from_tiers(key) : get_from_memory(key);
}

asio::awaitable<std::optional<blob>> cache_manager::get_from_memory(std::string_view key) {
  co_return memory_.get(key);
}

asio::awaitable<std::optional<blob>> cache_manager::get_from_tiers(std::string_view key) {
  // Moved, not copied: a copy would cost a reference-count round trip on every hit.
  if (auto hit = memory_.get(key)) co_return std::move(hit);
  auto value = co_await read_through_lower_tiers(key);
  if (value) hits_below_memory_.fetch_add(1, std::memory_order_relaxed);
  co_return value;
}

asio::awaitable<std::optional<blob>> cache_manager::read_through_lower_tiers(std::string_view key) {
  co_return co_await disk_reads_.run(key,
                                     [this, key] { return read_lower_tiers_and_promote(key); });
}

asio::awaitable<std::optional<blob>> cache_manager::read_lower_tiers_and_promote(
    std::string_view key) {
  if (disk_) {
    auto value = co_await disk_->get(key);
    // Promote, unless a put of the key landed while the disk read ran: that one is newer.
    if (value) memory_.put(key, *value, {.keep_existing = true});
    if (value || !remote_) co_return value;
  }
  std::optional<remote_tier::found> found = co_await remote_->get(key);
  if (!found) co_return std::nullopt;
  const put_options options{.ttl = found->ttl, .keep_existing = true};
  // Into memory, and onto the local disk without waiting (a full or failing disk refuses it):
  // the next epoch reads it locally.
  if (memory_.put(key, found->value, options) && disk_ && mode_ == write_mode::write_through) {
    disk_->try_put(key, found->value.bytes(), disk_expiry(options));
  }
  co_return std::move(found->value);
}

void cache_manager::publish_remote(std::string_view key, const blob& value,
                                   const put_options& options) {
  if (remote_) remote_->publish(key, value, options.ttl);
}

asio::awaitable<void> cache_manager::store_on_disk(std::string_view key, const blob& value,
                                                   const put_options& options) {
  if (disk_ && mode_ == write_mode::write_through) {
    co_await disk_->put(key, value.bytes(), disk_expiry(options));
  }
}

asio::awaitable<bool> cache_manager::put(std::string_view key, blob value, put_options options) {
  const bool stored = memory_.put(key, value, options);
  // A value too large for memory may still fit the disk; one kept out by keep_existing may not.
  if (stored || !options.keep_existing) {
    co_await store_on_disk(key, value, options);
    publish_remote(key, value, options);
  }
  co_return stored;
}

asio::awaitable<bool> cache_manager::remove(std::string_view key) {
  const bool in_memory = memory_.erase(key);
  const bool on_disk = disk_ && disk_->erase(key);
  bool remotely = false;
  // A read_only cache leaves what others published alone.
  if (remote_ && remote_->use() == remote_use::read_write) remotely = co_await remote_->erase(key);
  co_return in_memory || on_disk || remotely;
}

asio::awaitable<void> cache_manager::clear() {
  memory_.clear();
  co_return;
}

asio::awaitable<void> cache_manager::flush() {
  if (!disk_) co_return;
  if (const std::error_code error = co_await disk_->flush()) {
    throw std::system_error(error, "larder: flush of the disk tier failed");
  }
}

asio::awaitable<void> cache_manager::close() {
  if (remote_) co_await remote_->close();
  if (!disk_) co_return;
  if (const std::error_code error = co_await disk_->close()) {
    throw std::system_error(error, "larder: closing the disk tier failed");
  }
}

cache_metrics cache_manager::metrics() const {
  cache_metrics out;
  // Read before the memory tier: a lookup is counted in memory before it can be counted here,
  // so hits never exceed lookups in a snapshot.
  const std::uint64_t below_memory = hits_below_memory_.load(std::memory_order_relaxed);
  out.memory = memory_.stats();
  if (disk_) out.disk = disk_->stats();
  if (remote_) out.remote = remote_->stats();
  out.lookups = out.memory.hits + out.memory.misses;
  out.hits = out.memory.hits + below_memory;
  out.hit_rate =
      out.lookups == 0 ? 0.0 : static_cast<double>(out.hits) / static_cast<double>(out.lookups);
  out.memory_usage = out.memory.bytes_used;
  out.eviction_count = out.memory.evictions + out.memory.cleanup_evictions +
                       out.memory.expirations + out.memory.aged_out;
  out.loads = load_count_.load(std::memory_order_relaxed);
  out.coalesced_loads = loads_.coalesced();
  out.coalesced_disk_reads = disk_reads_.coalesced();
  out.stream_batches = stream_batches_.load(std::memory_order_relaxed);
  out.stream_stall = std::chrono::nanoseconds(stream_stall_ns_.load(std::memory_order_relaxed));
  return out;
}

asio::awaitable<cache_metrics> cache_manager::get_metrics() const {
  co_return metrics();
}

void cache_manager::record_stream_batch(std::chrono::nanoseconds waited) noexcept {
  stream_batches_.fetch_add(1, std::memory_order_relaxed);
  stream_stall_ns_.fetch_add(waited.count(), std::memory_order_relaxed);
}

}  // namespace larder
