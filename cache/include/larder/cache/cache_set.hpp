// cache_set: the seed's three cache profiles opened together from one configuration, sharing
// one executor and one cleanup scheduler.
//
// 1. Profiles. Each is an independent cache_manager with its own memory budget (the profile's
//    size), eviction order and cleanup policy:
//      model_cache     memory + disk tier in <disk.path>/model_cache, write-through,
//                      compression as the profile says; cleanup_policy (default lru)
//      training_cache  memory + disk tier in <disk.path>/training_cache, write-through;
//                      cleanup_policy (default fifo)
//      system_cache    memory only; cleanup_policy (default time: entries older than max_age
//                      go), and its temp_dir's old files are removed (temp_directory_cleaner)
//    The two disk tiers share disk.size in proportion to their profiles' sizes.
// 2. Policies. lru and fifo order the memory tier's evictions; time keeps the memory tier's
//    memory.type order and adds the max_age pass; size lets puts fill the memory tier to its
//    size and has each pass evict down to a low-water mark once usage passes
//    eviction_threshold x size (memory_cleanup.hpp).
// 3. Cleanup. start() schedules every cache's passes on the shared scheduler at
//    memory.cleanup_interval (memory) and disk.cleanup_interval (disks and temp_dir); stop()
//    ends them all, waiting for passes in progress.
// 4. Resources. Every cache.resources.check_interval, check_resources() compares available
//    memory and free disk with their floors (resource_manager). Below the memory floor, the
//    memory tiers shrink by the shortfall, in proportion to their sizes and to no less than a
//    tenth of their configured size; once memory is back above the floor by what they gave up,
//    they grow back. Below the disk floor, the disk tiers stop admitting; above it they resume.
//    Each change is logged with its reason.
//
// Thread safety: the caches are thread-safe (cache_manager); start(), stop() and close() are
// called by one owner, in that order.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <larder/cache/cache_manager.hpp>
#include <larder/config/cache_config.hpp>
#include <larder/config/host_resources.hpp>
#include <larder/config/resource_manager.hpp>

namespace larder {

class scheduler;

class cache_set {
 public:
  // Opens the three caches. Throws what cache_manager::open throws (a directory in use, of an
  // unknown format). `file_io`: the disks' I/O (null: each cache owns an io_uring ring).
  static asio::awaitable<std::unique_ptr<cache_set>> open(asio::any_io_executor executor,
                                                          const cache_config& config,
                                                          io::file_io* file_io = nullptr,
                                                          host_resources host = {});
  ~cache_set();

  cache_manager& model() noexcept { return *model_; }
  cache_manager& training() noexcept { return *training_; }
  cache_manager& system() noexcept { return *system_; }
  const std::filesystem::path& temp_dir() const noexcept { return temp_dir_; }

  // Every cache with its name and cleanup settings, in a fixed order (model, training, system).
  struct member {
    std::string name;
    cache_manager* cache;
    cleanup_settings cleanup;
  };
  const std::vector<member>& members() const noexcept { return members_; }

  // Design note 3. REQUIRES: not started.
  void start();
  // Blocks until passes in progress finish: call it from outside the executor's threads.
  void stop();
  scheduler& cleanup_scheduler() noexcept { return *scheduler_; }

  // Flushes the disk tiers and writes their index snapshots, and closes the remote tiers (waiting
  // for their publishes in flight). Throws std::system_error from
  // the first one that fails, after trying them all.
  asio::awaitable<void> close();

  // One temp_dir pass now; returns files removed. Logged.
  std::uint64_t clean_temp_dir();

  // Design note 4, once now. Returns the sample it acted on (nullopt if reading failed).
  std::optional<resource_sample> check_resources();

 private:
  cache_set() = default;

  asio::any_io_executor executor_;
  std::filesystem::path temp_dir_;
  std::chrono::nanoseconds temp_max_age_{0};
  std::chrono::nanoseconds temp_interval_{0};
  std::unique_ptr<cache_manager> model_;
  std::unique_ptr<cache_manager> training_;
  std::unique_ptr<cache_manager> system_;
  std::vector<member> members_;
  std::vector<std::uint64_t> configured_capacity_;  // by member
  std::optional<resource_manager> resources_;
  std::chrono::nanoseconds resources_interval_{0};
  bool disk_stopped_ = false;
  // Declared last: destroyed (stopped) first, while the caches its tasks use still exist.
  std::unique_ptr<scheduler> scheduler_;
};

}  // namespace larder
