#include "larder/cache/cache_set.hpp"

#include <algorithm>
#include <system_error>

#include "larder/cache/temp_directory_cleaner.hpp"
#include "larder/runtime/log.hpp"
#include "larder/scheduler/scheduler.hpp"

namespace larder {
namespace {

constexpr std::uint64_t max_region_size = 32ull << 20;
constexpr std::uint64_t min_region_size = 1ull << 20;

// Regions of 1/16 of a disk tier's budget, between 1 and 32 MiB: a small budget still holds
// enough regions for eviction to be fine-grained. Derived from the configuration only, so a
// directory reopened under the same configuration keeps its region size.
std::uint64_t region_size_for(std::uint64_t budget) {
  const std::uint64_t size = std::clamp(budget / 16, min_region_size, max_region_size);
  return size / 4096 * 4096;
}

// The configuration of one profile's cache: its memory budget and order, and its share of the
// disk.
cache_config profile_config(const cache_config& base, std::uint64_t memory_bytes,
                            memory_policy eviction, cleanup_policy policy, std::uint64_t disk_bytes,
                            const std::string& directory) {
  cache_config c = base;
  c.memory.size_bytes = memory_bytes;
  c.memory.policy = eviction;
  // A size pass does the evicting: puts may fill the tier to its whole size.
  if (policy == cleanup_policy::size) c.eviction_threshold = 1.0;
  c.disk.size_bytes = disk_bytes;
  c.disk.path = base.disk.path / directory;
  return c;
}

cleanup_settings settings_for(const cache_config& base, const std::string& name,
                              cleanup_policy policy, std::chrono::seconds max_age) {
  cleanup_settings s = cleanup_settings::from_config(base);
  s.cache_name = name;
  s.memory.policy = policy;
  s.memory.max_age = max_age;
  s.memory.eviction_threshold = base.eviction_threshold;
  s.memory.low_water = std::max(0.1, base.eviction_threshold - 0.2);
  return s;
}

}  // namespace

asio::awaitable<std::unique_ptr<cache_set>> cache_set::open(asio::any_io_executor executor,
                                                            const cache_config& config,
                                                            io::file_io* file_io,
                                                            host_resources host) {
  std::unique_ptr<cache_set> set(new cache_set());
  set->executor_ = executor;
  set->temp_dir_ = config.system_cache.temp_dir;
  set->temp_max_age_ = config.system_cache.max_age;
  set->temp_interval_ = config.disk.cleanup_interval;

  const auto& model = config.model_cache;
  const auto& training = config.training_cache;
  const double sum = static_cast<double>(model.size_bytes + training.size_bytes);
  const auto share = [&](std::uint64_t size) {
    return static_cast<std::uint64_t>(static_cast<double>(config.disk.size_bytes) *
                                      (static_cast<double>(size) / sum));
  };
  auto open_cache = [&](const cache_config& c, std::string name, remote_use remote,
                        bool with_disk) {
    return cache_manager::open(executor, c,
                               {.mode = write_mode::write_through,
                                .region_size = region_size_for(c.disk.size_bytes),
                                .file_io = file_io,
                                .with_disk = with_disk,
                                .cache_name = std::move(name),
                                .remote = remote});
  };

  cache_config model_config = profile_config(config, model.size_bytes, model.eviction, model.policy,
                                             share(model.size_bytes), "model_cache");
  model_config.memory.compression = model.compression;
  set->model_ = co_await open_cache(model_config, "model_cache", model.remote, true);
  set->training_ = co_await open_cache(
      profile_config(config, training.size_bytes, training.eviction, training.policy,
                     share(training.size_bytes), "training_cache"),
      "training_cache", training.remote, true);
  const cache_config system_config =
      profile_config(config, config.system_cache.size_bytes, config.system_cache.eviction,
                     config.system_cache.policy, 0, "system_cache");
  set->system_ =
      co_await open_cache(system_config, "system_cache", config.system_cache.remote, false);

  set->members_ = {
      {"model_cache", set->model_.get(),
       settings_for(config, "model_cache", model.policy, std::chrono::seconds(0))},
      {"training_cache", set->training_.get(),
       settings_for(config, "training_cache", training.policy, std::chrono::seconds(0))},
      {"system_cache", set->system_.get(),
       settings_for(config, "system_cache", config.system_cache.policy,
                    config.system_cache.max_age)},
  };
  for (const auto& m : set->members_)
    set->configured_capacity_.push_back(m.cache->memory().capacity_bytes());
  set->resources_.emplace(config, std::move(host));
  set->resources_interval_ = config.resources.check_interval;
  set->scheduler_ = std::make_unique<scheduler>(executor);
  co_return set;
}

cache_set::~cache_set() {
  stop();
}

void cache_set::start() {
  for (auto& m : members_)
    m.cache->start(*scheduler_, m.cleanup);
  scheduler_->schedule("system_cache temp_dir cleanup", {.interval = temp_interval_, .jitter = 0.1},
                       [this]() -> asio::awaitable<void> {
                         clean_temp_dir();
                         co_return;
                       });
  scheduler_->schedule("resource floors", {.interval = resources_interval_, .jitter = 0.1},
                       [this]() -> asio::awaitable<void> {
                         check_resources();
                         co_return;
                       });
}

std::optional<resource_sample> cache_set::check_resources() {
  resource_sample s;
  try {
    s = resources_->sample();
  } catch (const std::exception& e) {
    log().warn("resources: cannot read available memory or free disk: {}", e.what());
    return std::nullopt;
  }
  const auto& floors = resources_->floors();
  const auto mb = [](std::uint64_t bytes) { return bytes / 1000000; };

  std::uint64_t current = 0;
  std::uint64_t configured = 0;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    current += members_[i].cache->memory().capacity_bytes();
    configured += configured_capacity_[i];
  }
  if (s.memory_low) {
    const std::uint64_t shortfall = floors.min_available_memory_bytes - s.available_memory_bytes;
    for (std::size_t i = 0; i < members_.size(); ++i) {
      memory_tier& tier = members_[i].cache->memory();
      const std::uint64_t now = tier.capacity_bytes();
      const auto share =
          static_cast<std::uint64_t>(static_cast<double>(shortfall) * static_cast<double>(now) /
                                     static_cast<double>(std::max<std::uint64_t>(current, 1)));
      const std::uint64_t target =
          std::max(configured_capacity_[i] / 10, now > share ? now - share : 0);
      if (target < now) {
        log().warn(
            "resources: available memory {} MB is below the floor of {} MB: shrinking the {} "
            "memory tier from {} MB to {} MB",
            mb(s.available_memory_bytes), mb(floors.min_available_memory_bytes), members_[i].name,
            mb(now), mb(target));
        tier.set_capacity(target);
      }
    }
  } else if (current < configured && s.available_memory_bytes >= floors.min_available_memory_bytes +
                                                                     (configured - current)) {
    for (std::size_t i = 0; i < members_.size(); ++i) {
      memory_tier& tier = members_[i].cache->memory();
      if (tier.capacity_bytes() == configured_capacity_[i]) continue;
      log().info(
          "resources: available memory {} MB is above the floor of {} MB again: the {} "
          "memory tier grows back from {} MB to {} MB",
          mb(s.available_memory_bytes), mb(floors.min_available_memory_bytes), members_[i].name,
          mb(tier.capacity_bytes()), mb(configured_capacity_[i]));
      tier.set_capacity(configured_capacity_[i]);
    }
  }

  if (s.disk_low != disk_stopped_) {
    disk_stopped_ = s.disk_low;
    for (const auto& m : members_) {
      if (disk_tier* disk = m.cache->disk()) disk->set_admitting(!s.disk_low);
    }
    if (s.disk_low) {
      log().warn(
          "resources: free disk {} MB at {} is below the floor of {} MB: the disk tiers "
          "stop admitting new entries (reads go on)",
          mb(s.free_disk_bytes), resources_->disk_path().string(), mb(floors.min_free_disk_bytes));
    } else {
      log().info(
          "resources: free disk {} MB at {} is above the floor of {} MB again: the disk "
          "tiers admit new entries",
          mb(s.free_disk_bytes), resources_->disk_path().string(), mb(floors.min_free_disk_bytes));
    }
  }
  return s;
}

void cache_set::stop() {
  if (scheduler_) scheduler_->stop();
}

std::uint64_t cache_set::clean_temp_dir() {
  const auto r = clean_temp_directory(
      temp_dir_, std::chrono::duration_cast<std::chrono::seconds>(temp_max_age_));
  log().info(
      "cache system_cache: temp_dir {} cleanup: {} file(s) ({} bytes) and {} directory(ies) "
      "older than {} s removed",
      temp_dir_.string(), r.files_removed, r.bytes_removed, r.directories_removed,
      std::chrono::duration_cast<std::chrono::seconds>(temp_max_age_).count());
  if (r.errors != 0) {
    log().warn("cache system_cache: temp_dir {} cleanup: {} error(s), first: {}",
               temp_dir_.string(), r.errors, r.first_error);
  }
  return r.files_removed;
}

asio::awaitable<void> cache_set::close() {
  std::exception_ptr first;
  for (cache_manager* c : {model_.get(), training_.get(), system_.get()}) {
    try {
      co_await c->close();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace larder
