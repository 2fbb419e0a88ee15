#include "serve_metrics.hpp"

#include <vector>

#include "larder/cache/metrics/prometheus_text.hpp"

namespace larder::tools {

std::string render_serve_metrics(cache_set& caches) {
  std::vector<named_cache_metrics> snapshots;
  for (const cache_set::member& m : caches.members())
    snapshots.push_back({m.name, m.cache->metrics()});
  return prometheus_text(snapshots);
}

health_status serve_health(cache_set& caches) {
  std::string degraded;
  for (const cache_set::member& m : caches.members()) {
    const cache_metrics metrics = m.cache->metrics();
    if (!metrics.disk || !metrics.disk->degraded) continue;
    degraded += degraded.empty() ? "" : ", ";
    degraded += m.name;
  }
  if (degraded.empty()) return {};
  return {false, "disk tier degraded to memory only: " + degraded};
}

}  // namespace larder::tools
