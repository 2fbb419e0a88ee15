// prometheus_text: cache metrics in the Prometheus text exposition format, version 0.0.4 (what
// `larder serve` answers on /metrics).
//
// Names follow Prometheus conventions: a larder_ prefix, base units (seconds, bytes), counters
// ending in _total, one family per quantity with the cache, the tier and the reason as labels
// (`larder_hits_total{cache="training",tier="memory"} 42`). Every family is written once, with
// its # HELP and # TYPE lines and then all its samples, as the format requires. I/O latencies
// are summaries (quantiles 0.5, 0.99, 0.999 over the cache's life, with _sum and _count).
// Label values are escaped (backslash, double quote, newline).
//
// A pure function of its input: safe to call from any thread.
#pragma once

#include <span>
#include <string>

#include <larder/cache/cache_metrics.hpp>

namespace larder {

struct named_cache_metrics {
  std::string cache;  // the value of the `cache` label
  cache_metrics metrics;
};

std::string prometheus_text(std::span<const named_cache_metrics> caches);

}  // namespace larder
