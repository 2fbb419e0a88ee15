// What `larder serve` answers its metrics endpoint with: the caches' figures in the Prometheus
// text format, and whether the service is healthy.
//
// A small set for now, each figure one cache_manager::stats() already keeps: per cache (label
// cache="model_cache", ...) and tier (tier="memory" or "disk", the disk only for caches that have
// one), hits and misses (counters), entries, bytes used and capacity (gauges).
//
// Both read the caches' stats(), which are thread-safe; they may run on any thread while the
// caches are open (not after cache_set::close()).
#pragma once

#include <string>

#include "larder/cache/cache_set.hpp"
#include "metrics_endpoint.hpp"

namespace larder::tools {

// The body of GET /metrics: every sample of a metric family together under its # HELP and # TYPE
// lines, as the text format (version 0.0.4) requires.
std::string render_serve_metrics(cache_set& caches);

// Healthy unless a cache's disk tier is degraded (an I/O error made it memory only); the detail
// names those caches.
health_status serve_health(cache_set& caches);

}  // namespace larder::tools
