// cleanup_settings: how and how often a cache's cleanup service cleans it
// (cache_manager::start). What one pass does per policy is in memory_cleanup.hpp and
// disk_tier.hpp (design note 7).
//
// Plain value: copy freely.
#pragma once

#include <chrono>
#include <string>

#include <larder/cache/memory_cleanup.hpp>
#include <larder/config/cache_config.hpp>

namespace larder {

struct cleanup_settings {
  std::string cache_name = "cache";  // for log lines
  memory_cleanup_settings memory;
  std::chrono::nanoseconds memory_interval{std::chrono::seconds(300)};
  std::chrono::nanoseconds disk_interval{std::chrono::seconds(3600)};
  // Each wait is interval x (1 +- jitter), so that caches started together do not clean in step.
  double jitter = 0.1;

  // The top-level cache of a configuration: its memory.type orders evictions (lru or fifo),
  // memory.cleanup_interval and disk.cleanup_interval time the passes, eviction_threshold
  // starts a size pass.
  static cleanup_settings from_config(const cache_config& config);
};

}  // namespace larder
