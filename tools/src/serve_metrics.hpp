// What `larder serve` answers its metrics endpoint with: the caches' metrics in the Prometheus
// text format (larder/cache/metrics/prometheus_text.hpp: every counter of cache_metrics, per
// cache as label cache="model_cache", ..., and tier), and whether the service is healthy.
//
// Both read the caches' metrics(), which are thread-safe; they may run on any thread while the
// caches are open (not after cache_set::close()).
#pragma once

#include <string>

#include "larder/cache/cache_set.hpp"
#include "metrics_endpoint.hpp"

namespace larder::tools {

// The body of GET /metrics.
std::string render_serve_metrics(cache_set& caches);

// Healthy unless a cache's disk tier is degraded (an I/O error made it memory only); the detail
// names those caches.
health_status serve_health(cache_set& caches);

}  // namespace larder::tools
