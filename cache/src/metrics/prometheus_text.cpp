#include "larder/cache/metrics/prometheus_text.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace larder {
namespace {

using label = std::pair<std::string_view, std::string_view>;

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

// Writes families one at a time: family() opens one with its HELP and TYPE lines, sample() adds
// lines to the family last opened.
class exposition_writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }

  // A sample of the open family; `suffix` for a summary's _sum and _count.
  template <typename Value>
  void sample(std::initializer_list<label> labels, Value value, std::string_view suffix = {}) {
    out_ += name_;
    out_ += suffix;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, text] : labels) {
        if (!first) out_ += ',';
        first = false;
        fmt::format_to(std::back_inserter(out_), "{}=\"{}\"", key, escape_label_value(text));
      }
      out_ += '}';
    }
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::string_view name_;
};

void write_family(exposition_writer& w, std::span<const named_cache_metrics> caches,
                  std::string_view name, std::string_view type, std::string_view help,
                  const std::function<void(const named_cache_metrics&)>& samples) {
  w.family(name, type, help);
  for (const auto& c : caches)
    samples(c);
}

// `which` gives a cache's summary, or null when the cache has none.
void write_latency(exposition_writer& w, std::span<const named_cache_metrics> caches,
                   std::string_view name, std::string_view help,
                   const std::function<const latency_summary*(const cache_metrics&)>& which) {
  write_family(w, caches, name, "summary", help, [&](const named_cache_metrics& c) {
    const latency_summary* summary = which(c.metrics);
    if (summary == nullptr) return;
    const latency_summary& s = *summary;
    const std::string_view cache = c.cache;
    w.sample({{"cache", cache}, {"quantile", "0.5"}}, seconds(s.p50));
    w.sample({{"cache", cache}, {"quantile", "0.99"}}, seconds(s.p99));
    w.sample({{"cache", cache}, {"quantile", "0.999"}}, seconds(s.p999));
    w.sample({{"cache", cache}}, seconds(s.sum), "_sum");
    w.sample({{"cache", cache}}, s.count, "_count");
  });
}

}  // namespace

std::string prometheus_text(std::span<const named_cache_metrics> caches) {
  exposition_writer w;
  // A family of the memory and disk tiers: `memory` and `disk` read one field of each.
  auto per_tier = [&](std::string_view name, std::string_view type, std::string_view help,
                      auto memory, auto disk) {
    write_family(w, caches, name, type, help, [&](const named_cache_metrics& c) {
      w.sample({{"cache", c.cache}, {"tier", "memory"}}, memory(c.metrics.memory));
      if (c.metrics.disk) w.sample({{"cache", c.cache}, {"tier", "disk"}}, disk(*c.metrics.disk));
    });
  };
  // The same with the remote tier's figure too.
  auto per_tier_and_remote = [&](std::string_view name, std::string_view type,
                                 std::string_view help, auto memory, auto disk, auto remote) {
    write_family(w, caches, name, type, help, [&](const named_cache_metrics& c) {
      w.sample({{"cache", c.cache}, {"tier", "memory"}}, memory(c.metrics.memory));
      if (c.metrics.disk) w.sample({{"cache", c.cache}, {"tier", "disk"}}, disk(*c.metrics.disk));
      if (c.metrics.remote) {
        w.sample({{"cache", c.cache}, {"tier", "remote"}}, remote(*c.metrics.remote));
      }
    });
  };
  auto per_remote = [&](std::string_view name, std::string_view type, std::string_view help,
                        auto value) {
    write_family(w, caches, name, type, help, [&](const named_cache_metrics& c) {
      if (c.metrics.remote) w.sample({{"cache", c.cache}}, value(*c.metrics.remote));
    });
  };
  auto per_cache = [&](std::string_view name, std::string_view type, std::string_view help,
                       auto value) {
    write_family(w, caches, name, type, help, [&](const named_cache_metrics& c) {
      w.sample({{"cache", c.cache}}, value(c.metrics));
    });
  };
  auto per_disk = [&](std::string_view name, std::string_view type, std::string_view help,
                      auto value) {
    write_family(w, caches, name, type, help, [&](const named_cache_metrics& c) {
      if (c.metrics.disk) w.sample({{"cache", c.cache}}, value(*c.metrics.disk));
    });
  };
  using memory = const memory_tier_stats&;
  using disk = const disk_tier_stats&;
  using remote = const remote_tier_stats&;
  using cache = const cache_metrics&;

  per_cache("larder_lookups_total", "counter",
            "Lookups (get, get_or_load, try_get); each looks in the memory tier once.",
            [](cache m) { return m.lookups; });
  per_cache("larder_lookup_hits_total", "counter",
            "Lookups answered from the memory, disk or remote tier.",
            [](cache m) { return m.hits; });
  per_cache("larder_hit_ratio", "gauge",
            "Lookups answered from a tier over all lookups since the cache opened (0 before any).",
            [](cache m) { return m.hit_rate; });
  per_tier_and_remote(
      "larder_hits_total", "counter", "Reads a tier answered.", [](memory m) { return m.hits; },
      [](disk d) { return d.hits; }, [](remote r) { return r.hits; });
  per_tier_and_remote(
      "larder_misses_total", "counter", "Reads a tier could not answer.",
      [](memory m) { return m.misses; }, [](disk d) { return d.misses; },
      [](remote r) { return r.misses; });
  per_tier(
      "larder_insertions_total", "counter", "Entries stored in a tier.",
      [](memory m) { return m.insertions + m.replacements; }, [](disk d) { return d.insertions; });
  per_tier(
      "larder_rejections_total", "counter",
      "Entries a tier refused: too large, not admitted, or the disk degraded or behind.",
      [](memory m) { return m.rejections; }, [](disk d) { return d.rejections; });
  write_family(
      w, caches, "larder_evictions_total", "counter",
      "Entries a tier dropped, by reason: capacity (room for new entries), cleanup (a "
      "cleanup pass or a budget shrunk under memory pressure), expired (TTL), max_age.",
      [&](const named_cache_metrics& c) {
        const std::string_view n = c.cache;
        const memory_tier_stats& m = c.metrics.memory;
        w.sample({{"cache", n}, {"tier", "memory"}, {"reason", "capacity"}}, m.evictions);
        w.sample({{"cache", n}, {"tier", "memory"}, {"reason", "cleanup"}}, m.cleanup_evictions);
        w.sample({{"cache", n}, {"tier", "memory"}, {"reason", "expired"}}, m.expirations);
        w.sample({{"cache", n}, {"tier", "memory"}, {"reason", "max_age"}}, m.aged_out);
        if (!c.metrics.disk) return;
        const disk_tier_stats& d = *c.metrics.disk;
        w.sample({{"cache", n}, {"tier", "disk"}, {"reason", "capacity"}}, d.evicted_entries);
        w.sample({{"cache", n}, {"tier", "disk"}, {"reason", "expired"}}, d.expired_entries);
      });
  per_cache("larder_removals_total", "counter", "Entries the memory tier lost to remove() calls.",
            [](cache m) { return m.memory.removals; });
  per_tier(
      "larder_entries", "gauge", "Entries in a tier.", [](memory m) { return m.entries; },
      [](disk d) { return d.entries; });
  per_tier(
      "larder_used_bytes", "gauge",
      "Bytes a tier uses: charged entries in memory, whole regions on disk.",
      [](memory m) { return m.bytes_used; }, [](disk d) { return d.bytes_used; });
  per_tier(
      "larder_capacity_bytes", "gauge", "A tier's configured budget.",
      [](memory m) { return m.capacity_bytes; }, [](disk d) { return d.capacity_bytes; });

  per_disk("larder_disk_reads_total", "counter", "Entry reads issued to the device.",
           [](disk d) { return d.reads; });
  per_disk("larder_disk_read_bytes_total", "counter", "Bytes read from the device by gets.",
           [](disk d) { return d.bytes_read; });
  per_disk("larder_disk_writes_total", "counter", "Region writes issued to the device.",
           [](disk d) { return d.writes; });
  per_disk("larder_disk_written_bytes_total", "counter", "Bytes written to the device.",
           [](disk d) { return d.bytes_written; });
  write_latency(w, caches, "larder_disk_read_latency_seconds", "Latency of entry reads.",
                [](cache m) { return m.disk ? &m.disk->read_latency : nullptr; });
  write_latency(w, caches, "larder_disk_write_latency_seconds", "Latency of region writes.",
                [](cache m) { return m.disk ? &m.disk->write_latency : nullptr; });
  write_latency(w, caches, "larder_disk_sync_latency_seconds",
                "Latency of the fdatasync calls of flushes.",
                [](cache m) { return m.disk ? &m.disk->sync_latency : nullptr; });
  per_disk("larder_checksum_failures_total", "counter",
           "Disk entries that failed their checksum: counted as misses and dropped.",
           [](disk d) { return d.checksum_failures; });
  per_disk("larder_io_errors_total", "counter", "Failed disk I/O operations.",
           [](disk d) { return d.io_errors; });
  per_disk("larder_disk_degraded", "gauge",
           "1 when a disk failure has degraded the cache to memory only, until it is reopened.",
           [](disk d) { return d.degraded ? 1 : 0; });
  per_disk("larder_disk_admitting", "gauge",
           "1 while the disk tier admits entries (0: free disk space below its floor).",
           [](disk d) { return d.admitting ? 1 : 0; });
  per_disk("larder_disk_regions", "gauge", "Region files of the disk tier.",
           [](disk d) { return d.regions; });
  per_disk("larder_disk_live_bytes", "gauge", "Bytes of the disk entries the index points at.",
           [](disk d) { return d.live_bytes; });
  per_disk("larder_disk_regions_reclaimed_total", "counter",
           "Regions dropped for the budget, by expiry or after compaction.",
           [](disk d) { return d.regions_reclaimed; });
  per_disk("larder_disk_reinsertions_total", "counter",
           "Entries read while their region was live, copied forward when it was reclaimed.",
           [](disk d) { return d.reinsertions; });

  per_remote("larder_remote_lookups_total", "counter", "Local misses that asked the remote tier.",
             [](remote r) { return r.lookups; });
  per_remote("larder_remote_errors_total", "counter",
             "Remote-tier requests that failed, timeouts included (each answered as a miss).",
             [](remote r) { return r.errors; });
  per_remote("larder_remote_timeouts_total", "counter",
             "Remote-tier requests that passed their deadline.",
             [](remote r) { return r.timeouts; });
  per_remote("larder_remote_refused_total", "counter",
             "Remote-tier requests the open circuit breaker answered without asking.",
             [](remote r) { return r.refused; });
  per_remote("larder_remote_breaker_opened_total", "counter",
             "Times the remote tier's circuit breaker opened.",
             [](remote r) { return r.breaker_opened; });
  per_remote("larder_remote_breaker_open", "gauge",
             "1 while the remote tier's circuit breaker is open or probing.",
             [](remote r) { return r.breaker_open ? 1 : 0; });
  per_remote("larder_remote_connected", "gauge",
             "1 when the remote tier has a client (0 while it keeps reconnecting).",
             [](remote r) { return r.connected ? 1 : 0; });
  write_family(w, caches, "larder_remote_rejected_values_total", "counter",
               "Values under the cache's remote keys that were not returned: failed "
               "verification (corrupt) or belonged to another key (other_key).",
               [&](const named_cache_metrics& c) {
                 if (!c.metrics.remote) return;
                 const remote_tier_stats& r = *c.metrics.remote;
                 w.sample({{"cache", c.cache}, {"reason", "corrupt"}}, r.corrupt_values);
                 w.sample({{"cache", c.cache}, {"reason", "other_key"}}, r.other_key_values);
               });
  per_remote("larder_remote_read_bytes_total", "counter",
             "Bytes of verified values read from the remote tier.",
             [](remote r) { return r.read_bytes; });
  per_remote("larder_remote_publishes_total", "counter", "Values published to the remote tier.",
             [](remote r) { return r.publishes; });
  per_remote("larder_remote_chunked_publishes_total", "counter",
             "Published values stored in chunks.", [](remote r) { return r.chunked_publishes; });
  per_remote("larder_remote_published_bytes_total", "counter",
             "Bytes published to the remote tier (encoded, chunks included).",
             [](remote r) { return r.published_bytes; });
  write_family(w, caches, "larder_remote_unpublished_total", "counter",
               "Values not published: too large, or dropped (too many in flight, not connected, "
               "breaker open).",
               [&](const named_cache_metrics& c) {
                 if (!c.metrics.remote) return;
                 const remote_tier_stats& r = *c.metrics.remote;
                 w.sample({{"cache", c.cache}, {"reason", "too_large"}}, r.skipped_large);
                 w.sample({{"cache", c.cache}, {"reason", "dropped"}}, r.dropped);
               });
  write_latency(w, caches, "larder_remote_get_latency_seconds",
                "Latency of remote-tier reads that got an answer.",
                [](cache m) { return m.remote ? &m.remote->get_latency : nullptr; });
  write_family(w, caches, "larder_remote_redirections_total", "counter",
               "Redis Cluster redirections followed (MOVED, ASK).",
               [&](const named_cache_metrics& c) {
                 if (!c.metrics.remote) return;
                 const redis_client_stats& r = c.metrics.remote->client;
                 w.sample({{"cache", c.cache}, {"kind", "moved"}}, r.moved_redirections);
                 w.sample({{"cache", c.cache}, {"kind", "ask"}}, r.ask_redirections);
               });
  per_remote("larder_remote_slot_map_refreshes_total", "counter",
             "Times the Redis Cluster slot map was read again.",
             [](remote r) { return r.client.slot_map_refreshes; });
  per_remote("larder_remote_connects_total", "counter", "Connections opened to Redis nodes.",
             [](remote r) { return r.client.connects; });
  per_remote("larder_remote_connect_failures_total", "counter",
             "Connection attempts to Redis nodes that failed.",
             [](remote r) { return r.client.connect_failures; });
  per_remote("larder_remote_nodes", "gauge",
             "Redis nodes in the slot map (1 for a standalone server).",
             [](remote r) { return r.client.nodes; });

  per_cache("larder_loads_total", "counter", "Loader calls made by get_or_load.",
            [](cache m) { return m.loads; });
  write_family(
      w, caches, "larder_coalesced_requests_total", "counter",
      "Callers that shared another caller's load or read below memory (disk, remote) of the "
      "same key (single "
      "flight) instead of making their own.",
      [&](const named_cache_metrics& c) {
        w.sample({{"cache", c.cache}, {"kind", "load"}}, c.metrics.coalesced_loads);
        w.sample({{"cache", c.cache}, {"kind", "disk_read"}}, c.metrics.coalesced_disk_reads);
      });
  per_cache("larder_stream_batches_total", "counter", "Batches dataset streams delivered.",
            [](cache m) { return m.stream_batches; });
  per_cache("larder_prefetch_stall_seconds_total", "counter",
            "Time dataset stream consumers waited for their next batch.",
            [](cache m) { return seconds(m.stream_stall); });
  return w.take();
}

}  // namespace larder
