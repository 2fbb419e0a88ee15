// render_serve_metrics and serve_health on a real cache_set: the figures its caches keep, in the
// exposition format, and a health check that fails once a disk tier degrades.
#include "serve_metrics.hpp"

#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "larder/cache/blob.hpp"
#include "larder/io/fault_injecting_file_io.hpp"
#include "larder/io/file_io.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "scratch_directory.hpp"

namespace larder::tools {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ServeMetrics : public ::testing::Test {
 protected:
  ServeMetrics() {
    config_.disk.path = scratch_.path() / "cache";
    config_.disk.size_bytes = 300ull << 20;
    config_.model_cache.size_bytes = 4 << 20;
    config_.training_cache.size_bytes = 2 << 20;
    config_.system_cache.size_bytes = 1 << 20;
    config_.system_cache.temp_dir = scratch_.path() / "temp";
    set_ = rt_.run(cache_set::open(rt_.executor(), config_, &faulty_));
  }
  ~ServeMetrics() override {
    try {
      rt_.run(set_->close());
    } catch (const std::system_error&) {
      // The degraded disk's last flush fails again; the test has checked what it needs.
    }
  }

  larder::testing::scratch_directory scratch_;
  cache_config config_;
  runtime rt_{{.threads = 2}};
  io::ring ring_{rt_.executor()};
  io::ring_file_io file_io_{ring_};
  io::fault_injecting_file_io faulty_{file_io_};
  std::unique_ptr<cache_set> set_;
};

TEST_F(ServeMetrics, RendersEveryCacheAndTierFromItsStats) {
  ASSERT_TRUE(rt_.run(set_->model().put("present", blob::copy_of("value"))));
  EXPECT_TRUE(set_->model().try_get("present"));
  EXPECT_TRUE(set_->model().try_get("present"));
  EXPECT_FALSE(set_->model().try_get("absent"));
  const cache_metrics model = set_->model().metrics();
  ASSERT_EQ(model.memory.hits, 2u);
  ASSERT_EQ(model.memory.misses, 1u);

  const std::string text = render_serve_metrics(*set_);
  EXPECT_TRUE(contains(text, "# HELP larder_hits_total ")) << text;
  EXPECT_TRUE(contains(text, "# TYPE larder_hits_total counter\n")) << text;
  EXPECT_TRUE(contains(text, "larder_hits_total{cache=\"model_cache\",tier=\"memory\"} 2\n"))
      << text;
  EXPECT_TRUE(contains(text, "# TYPE larder_misses_total counter\n")) << text;
  EXPECT_TRUE(contains(text, "larder_misses_total{cache=\"model_cache\",tier=\"memory\"} 1\n"))
      << text;
  EXPECT_TRUE(contains(text, "# TYPE larder_entries gauge\n")) << text;
  EXPECT_TRUE(contains(text, "larder_entries{cache=\"model_cache\",tier=\"memory\"} 1\n")) << text;
  EXPECT_TRUE(contains(text, "larder_used_bytes{cache=\"model_cache\",tier=\"memory\"} " +
                                 std::to_string(model.memory.bytes_used) + "\n"))
      << text;
  EXPECT_TRUE(contains(text, "larder_capacity_bytes{cache=\"training_cache\",tier=\"memory\"} " +
                                 std::to_string(2 << 20) + "\n"))
      << text;
  EXPECT_TRUE(contains(text, "larder_capacity_bytes{cache=\"model_cache\",tier=\"disk\"} " +
                                 std::to_string(model.disk->capacity_bytes) + "\n"))
      << text;
  EXPECT_TRUE(contains(text, "larder_hits_total{cache=\"system_cache\",tier=\"memory\"} 0\n"))
      << text;
  // The system cache is memory only.
  EXPECT_FALSE(contains(text, "cache=\"system_cache\",tier=\"disk\"")) << text;
  // The whole exposition of cache_metrics, not only these families.
  EXPECT_TRUE(contains(text, "larder_lookups_total{cache=\"model_cache\"} 3\n")) << text;
  EXPECT_TRUE(contains(text, "# TYPE larder_disk_read_latency_seconds summary\n")) << text;
}

TEST_F(ServeMetrics, HealthFailsNamingTheCachesWhoseDiskTierDegraded) {
  EXPECT_TRUE(serve_health(*set_).healthy);
  faulty_.inject_when(
      [](const auto& op) { return op.kind == io::fault_injecting_file_io::op_kind::write; },
      io::fault_injecting_file_io::fault::fail(std::errc::io_error));
  ASSERT_TRUE(rt_.run(set_->model().put("key", blob::copy_of("value"))));
  EXPECT_THROW(rt_.run(set_->model().flush()), std::system_error);
  ASSERT_TRUE(set_->model().metrics().disk->degraded);

  const health_status health = serve_health(*set_);
  EXPECT_FALSE(health.healthy);
  EXPECT_EQ(health.detail, "disk tier degraded to memory only: model_cache");
}

}  // namespace
}  // namespace larder::tools
