// prometheus_text: the text exposition format's rules, checked line by line by a parser of our
// own and by promtool (Debian's prometheus package), plus exact samples and label escaping.
#include "larder/cache/metrics/prometheus_text.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scratch_directory.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;

// A cache with a disk tier and every counter set to a distinct value.
named_cache_metrics tiered(std::string name) {
  named_cache_metrics c{std::move(name), {}};
  cache_metrics& m = c.metrics;
  m.lookups = 100;
  m.hits = 75;
  m.hit_rate = 0.75;
  m.memory.hits = 60;
  m.memory.misses = 40;
  m.memory.insertions = 30;
  m.memory.replacements = 2;
  m.memory.evictions = 7;
  m.memory.cleanup_evictions = 3;
  m.memory.expirations = 2;
  m.memory.aged_out = 1;
  m.memory.removals = 4;
  m.memory.entries = 18;
  m.memory.bytes_used = 4096;
  m.memory.capacity_bytes = 1 << 20;
  disk_tier_stats d;
  d.hits = 15;
  d.misses = 25;
  d.insertions = 32;
  d.evicted_entries = 9;
  d.expired_entries = 5;
  d.checksum_failures = 1;
  d.reads = 15;
  d.bytes_read = 61440;
  d.read_latency = {.count = 15, .sum = 1500us, .p50 = 90us, .p99 = 250us, .p999 = 1ms};
  d.write_latency = {.count = 2, .sum = 4ms, .p50 = 2ms, .p99 = 2ms, .p999 = 2ms};
  m.disk = d;
  m.loads = 25;
  m.coalesced_loads = 6;
  m.coalesced_disk_reads = 3;
  m.stream_batches = 12;
  m.stream_stall = 1500ms;
  return c;
}

// A tiered cache that also has a remote tier.
named_cache_metrics shared(std::string name) {
  named_cache_metrics c = tiered(std::move(name));
  remote_tier_stats r;
  r.lookups = 25;
  r.hits = 20;
  r.misses = 5;
  r.errors = 3;
  r.timeouts = 2;
  r.refused = 7;
  r.breaker_opened = 1;
  r.breaker_open = true;
  r.connected = true;
  r.corrupt_values = 1;
  r.other_key_values = 1;
  r.read_bytes = 81920;
  r.publishes = 12;
  r.chunked_publishes = 2;
  r.published_bytes = 4 << 20;
  r.skipped_large = 1;
  r.dropped = 4;
  r.get_latency = {.count = 20,
                   .sum = std::chrono::microseconds(2000),
                   .p50 = std::chrono::microseconds(80),
                   .p99 = std::chrono::microseconds(300),
                   .p999 = std::chrono::microseconds(400)};
  r.client.moved_redirections = 6;
  r.client.ask_redirections = 1;
  r.client.slot_map_refreshes = 2;
  r.client.connects = 6;
  r.client.connect_failures = 1;
  r.client.nodes = 3;
  r.client.cluster = true;
  c.metrics.remote = r;
  return c;
}

named_cache_metrics memory_only(std::string name) {
  named_cache_metrics c{std::move(name), {}};
  c.metrics.memory.hits = 5;
  c.metrics.memory.capacity_bytes = 1000;
  return c;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text))
    if (l == line) return true;
  return false;
}

// The rules of the text format (version 0.0.4) that a scraper relies on. Returns the first
// broken rule, or "" when the text keeps them all.
std::string format_violation(const std::string& text) {
  if (text.empty() || text.back() != '\n') return "the text must end with a newline";
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (-?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?|NaN|[-+]Inf))");
  std::set<std::string> families_seen;
  std::set<std::string> series_seen;
  std::string family;
  std::string family_type;
  std::string helped;
  std::smatch m;
  int n = 0;
  for (const auto& line : lines_of(text)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + " \"" + line + "\": ";
    if (std::regex_match(line, m, help)) {
      helped = m[1];
      if (families_seen.count(helped) != 0) return where + "family described twice";
    } else if (std::regex_match(line, m, type)) {
      if (m[1] != helped) return where + "TYPE without its HELP line just before";
      family = m[1];
      family_type = m[2];
      if (!families_seen.insert(family).second) return where + "family written twice";
    } else if (std::regex_match(line, m, sample)) {
      const std::string name = m[1];
      const bool own = name == family || (family_type == "summary" &&
                                          (name == family + "_sum" || name == family + "_count"));
      if (!own) return where + "sample outside its family (" + family + ")";
      const std::string series = line.substr(0, line.rfind(' '));
      if (!series_seen.insert(series).second) return where + "series written twice";
    } else {
      return where + "not a HELP, TYPE or sample line";
    }
  }
  return "";
}

TEST(PrometheusText, ExactSamplesForEachTierAndReason) {
  const std::vector<named_cache_metrics> caches{tiered("training")};
  const std::string text = prometheus_text(caches);
  for (const char* line : {
           "# TYPE larder_hits_total counter",
           "larder_hits_total{cache=\"training\",tier=\"memory\"} 60",
           "larder_hits_total{cache=\"training\",tier=\"disk\"} 15",
           "larder_misses_total{cache=\"training\",tier=\"disk\"} 25",
           "larder_lookups_total{cache=\"training\"} 100",
           "larder_lookup_hits_total{cache=\"training\"} 75",
           "larder_hit_ratio{cache=\"training\"} 0.75",
           "larder_insertions_total{cache=\"training\",tier=\"memory\"} 32",
           "larder_evictions_total{cache=\"training\",tier=\"memory\",reason=\"capacity\"} 7",
           "larder_evictions_total{cache=\"training\",tier=\"memory\",reason=\"cleanup\"} 3",
           "larder_evictions_total{cache=\"training\",tier=\"memory\",reason=\"expired\"} 2",
           "larder_evictions_total{cache=\"training\",tier=\"memory\",reason=\"max_age\"} 1",
           "larder_evictions_total{cache=\"training\",tier=\"disk\",reason=\"capacity\"} 9",
           "larder_evictions_total{cache=\"training\",tier=\"disk\",reason=\"expired\"} 5",
           "larder_removals_total{cache=\"training\"} 4",
           "larder_used_bytes{cache=\"training\",tier=\"memory\"} 4096",
           "larder_capacity_bytes{cache=\"training\",tier=\"memory\"} 1048576",
           "larder_checksum_failures_total{cache=\"training\"} 1",
           "larder_disk_read_bytes_total{cache=\"training\"} 61440",
           "# TYPE larder_disk_read_latency_seconds summary",
           "larder_disk_read_latency_seconds{cache=\"training\",quantile=\"0.5\"} 9e-05",
           "larder_disk_read_latency_seconds{cache=\"training\",quantile=\"0.99\"} 0.00025",
           "larder_disk_read_latency_seconds{cache=\"training\",quantile=\"0.999\"} 0.001",
           "larder_disk_read_latency_seconds_sum{cache=\"training\"} 0.0015",
           "larder_disk_read_latency_seconds_count{cache=\"training\"} 15",
           "larder_coalesced_requests_total{cache=\"training\",kind=\"load\"} 6",
           "larder_coalesced_requests_total{cache=\"training\",kind=\"disk_read\"} 3",
           "larder_loads_total{cache=\"training\"} 25",
           "larder_stream_batches_total{cache=\"training\"} 12",
           "larder_prefetch_stall_seconds_total{cache=\"training\"} 1.5",
           "larder_disk_degraded{cache=\"training\"} 0",
       }) {
    EXPECT_TRUE(has_line(text, line)) << "missing: " << line << "\n" << text;
  }
  EXPECT_EQ(format_violation(text), "") << text;
}

TEST(PrometheusText, AMemoryOnlyCacheHasNoDiskSamples) {
  const std::vector<named_cache_metrics> caches{memory_only("system"), tiered("model")};
  const std::string text = prometheus_text(caches);
  EXPECT_EQ(format_violation(text), "") << text;
  EXPECT_TRUE(has_line(text, "larder_hits_total{cache=\"system\",tier=\"memory\"} 5"));
  EXPECT_TRUE(has_line(text, "larder_hits_total{cache=\"model\",tier=\"disk\"} 15"));
  for (const auto& line : lines_of(text)) {
    if (line.find("cache=\"system\"") == std::string::npos) continue;
    EXPECT_EQ(line.find("tier=\"disk\""), std::string::npos) << line;
    EXPECT_EQ(line.rfind("larder_disk_", 0), std::string::npos) << line;
  }
  // Families stay whole: both caches' hits come under one TYPE line.
  std::size_t types = 0;
  for (const auto& line : lines_of(text))
    if (line == "# TYPE larder_hits_total counter") ++types;
  EXPECT_EQ(types, 1u);
}

TEST(PrometheusText, ARemoteTierHasItsSamples) {
  const std::vector<named_cache_metrics> caches{shared("training"), tiered("model")};
  const std::string text = prometheus_text(caches);
  EXPECT_EQ(format_violation(text), "") << text;
  for (const char* line : {
           "larder_hits_total{cache=\"training\",tier=\"remote\"} 20",
           "larder_misses_total{cache=\"training\",tier=\"remote\"} 5",
           "larder_remote_lookups_total{cache=\"training\"} 25",
           "larder_remote_errors_total{cache=\"training\"} 3",
           "larder_remote_timeouts_total{cache=\"training\"} 2",
           "larder_remote_refused_total{cache=\"training\"} 7",
           "larder_remote_breaker_opened_total{cache=\"training\"} 1",
           "larder_remote_breaker_open{cache=\"training\"} 1",
           "larder_remote_connected{cache=\"training\"} 1",
           "larder_remote_rejected_values_total{cache=\"training\",reason=\"corrupt\"} 1",
           "larder_remote_rejected_values_total{cache=\"training\",reason=\"other_key\"} 1",
           "larder_remote_read_bytes_total{cache=\"training\"} 81920",
           "larder_remote_publishes_total{cache=\"training\"} 12",
           "larder_remote_chunked_publishes_total{cache=\"training\"} 2",
           "larder_remote_published_bytes_total{cache=\"training\"} 4194304",
           "larder_remote_unpublished_total{cache=\"training\",reason=\"too_large\"} 1",
           "larder_remote_unpublished_total{cache=\"training\",reason=\"dropped\"} 4",
           "larder_remote_get_latency_seconds{cache=\"training\",quantile=\"0.99\"} 0.0003",
           "larder_remote_get_latency_seconds_count{cache=\"training\"} 20",
           "larder_remote_redirections_total{cache=\"training\",kind=\"moved\"} 6",
           "larder_remote_redirections_total{cache=\"training\",kind=\"ask\"} 1",
           "larder_remote_slot_map_refreshes_total{cache=\"training\"} 2",
           "larder_remote_connects_total{cache=\"training\"} 6",
           "larder_remote_connect_failures_total{cache=\"training\"} 1",
           "larder_remote_nodes{cache=\"training\"} 3",
       }) {
    EXPECT_TRUE(has_line(text, line)) << "missing: " << line << "\n" << text;
  }
  // A cache without a remote tier has no remote samples.
  for (const auto& line : lines_of(text)) {
    if (line.find("cache=\"model\"") == std::string::npos) continue;
    EXPECT_EQ(line.find("tier=\"remote\""), std::string::npos) << line;
    EXPECT_EQ(line.rfind("larder_remote_", 0), std::string::npos) << line;
  }
}

TEST(PrometheusText, LabelValuesAreEscaped) {
  const std::vector<named_cache_metrics> caches{memory_only("a\"b\\c\nd")};
  const std::string text = prometheus_text(caches);
  EXPECT_TRUE(has_line(text, R"(larder_hits_total{cache="a\"b\\c\nd",tier="memory"} 5)")) << text;
  EXPECT_EQ(format_violation(text), "") << text;
}

TEST(PrometheusText, NoCachesIsStillAValidExposition) {
  const std::string text = prometheus_text({});
  EXPECT_EQ(format_violation(text), "") << text;
}

TEST(PrometheusText, OurFormatCheckCatchesBrokenTexts) {
  EXPECT_NE(format_violation("larder_x 1"), "");  // no final newline
  EXPECT_NE(format_violation("# HELP a b\n# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n"), "");
  EXPECT_NE(format_violation("# HELP a b\n# TYPE a counter\nb 1\n"), "");
  EXPECT_NE(format_violation("# HELP a b\n# TYPE a counter\na{x=\"un\"escaped\"} 1\n"), "");
  EXPECT_NE(format_violation("# HELP a b\n# TYPE a gauge\n# HELP a b\n# TYPE a gauge\n"), "");
  EXPECT_EQ(format_violation("# HELP a b\n# TYPE a counter\na{x=\"1\"} 1\na{x=\"2\"} 2.5\n"), "");
}

// promtool, Prometheus' own checker (Debian package prometheus, installed by
// scripts/install-deps.sh): parses the exposition and lints names, units and HELP texts.
TEST(PrometheusText, PromtoolAcceptsTheExposition) {
  ASSERT_EQ(std::system("command -v promtool > /dev/null"), 0)
      << "promtool is missing: install the Debian package prometheus (scripts/install-deps.sh)";
  testing::scratch_directory scratch;
  const std::vector<named_cache_metrics> caches{tiered("model"), shared("training"),
                                                memory_only("system")};
  const auto file = scratch.write("metrics.txt", prometheus_text(caches));
  const auto report = scratch.path() / "promtool.txt";
  const std::string command =
      "promtool check metrics < " + file.string() + " > " + report.string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(report);
  std::stringstream said;
  said << in.rdbuf();
  EXPECT_EQ(status, 0) << said.str();
  EXPECT_EQ(said.str(), "") << "promtool has remarks";
}

}  // namespace
}  // namespace larder
