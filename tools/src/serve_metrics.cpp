#include "serve_metrics.hpp"

#include <cstdint>
#include <iterator>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace larder::tools {
namespace {

// The figures of one cache and tier, read once so that every family shows the same moment.
struct tier_sample {
  std::string_view cache;
  std::string_view tier;
  std::uint64_t hits;
  std::uint64_t misses;
  std::uint64_t entries;
  std::uint64_t used_bytes;
  std::uint64_t capacity_bytes;
};

std::vector<tier_sample> sample(cache_set& caches) {
  std::vector<tier_sample> samples;
  for (const cache_set::member& m : caches.members()) {
    const cache_stats stats = m.cache->stats();
    const memory_tier_stats& memory = stats.memory;
    samples.push_back({m.name, "memory", memory.hits, memory.misses, memory.entries,
                       memory.bytes_used, memory.capacity_bytes});
    if (const auto& disk = stats.disk) {
      samples.push_back({m.name, "disk", disk->hits, disk->misses, disk->entries, disk->bytes_used,
                         disk->capacity_bytes});
    }
  }
  return samples;
}

// A label value as the text format quotes it.
std::string escaped(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void append_family(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, const std::vector<tier_sample>& samples,
                   std::uint64_t tier_sample::*field) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  for (const tier_sample& s : samples) {
    fmt::format_to(std::back_inserter(out), "{}{{cache=\"{}\",tier=\"{}\"}} {}\n", name,
                   escaped(s.cache), escaped(s.tier), s.*field);
  }
}

}  // namespace

std::string render_serve_metrics(cache_set& caches) {
  const std::vector<tier_sample> samples = sample(caches);
  std::string out;
  append_family(out, "larder_hits_total", "counter", "Lookups that found the key in the tier.",
                samples, &tier_sample::hits);
  append_family(out, "larder_misses_total", "counter",
                "Lookups that did not find the key in the tier.", samples, &tier_sample::misses);
  append_family(out, "larder_entries", "gauge", "Entries the tier holds.", samples,
                &tier_sample::entries);
  append_family(
      out, "larder_used_bytes", "gauge",
      "Bytes the tier charges against its capacity (memory: entries with their overhead; disk: "
      "whole regions).",
      samples, &tier_sample::used_bytes);
  append_family(out, "larder_capacity_bytes", "gauge", "The tier's budget in bytes.", samples,
                &tier_sample::capacity_bytes);
  return out;
}

health_status serve_health(cache_set& caches) {
  std::string degraded;
  for (const cache_set::member& m : caches.members()) {
    const cache_stats stats = m.cache->stats();
    if (!stats.disk || !stats.disk->degraded) continue;
    degraded += degraded.empty() ? "" : ", ";
    degraded += m.name;
  }
  if (degraded.empty()) return {};
  return {false, "disk tier degraded to memory only: " + degraded};
}

}  // namespace larder::tools
