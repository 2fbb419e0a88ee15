#include <map>
#include <set>

#include <gtest/gtest.h>

#include <larder/cache/replay/synthetic_trace.hpp>

#include "replay/trace_test_support.hpp"

namespace larder {
namespace {

using testing::oracle_key;
using testing::read_all;

TEST(SyntheticTrace, TheSameSeedGivesTheSameTrace) {
  const synthetic_trace_options options{.objects = 500,
                                        .requests = 2000,
                                        .alpha = 0.8,
                                        .min_size = 10,
                                        .max_size = 10'000,
                                        .seed = 3};
  synthetic_trace a(options);
  synthetic_trace b(options);
  synthetic_trace other({.objects = 500,
                         .requests = 2000,
                         .alpha = 0.8,
                         .min_size = 10,
                         .max_size = 10'000,
                         .seed = 4});
  const auto requests = read_all(a);
  EXPECT_EQ(requests.size(), 2000u);
  EXPECT_EQ(requests, read_all(b));
  EXPECT_NE(requests, read_all(other));
}

// Zipf(1) over 1000 objects: the most popular object has 1/H(1000) = 13.4 % of the requests and
// the second half of it.
TEST(SyntheticTrace, PopularityFollowsZipf) {
  synthetic_trace trace({.objects = 1000, .requests = 200'000, .alpha = 1.0, .seed = 11});
  std::map<std::string, std::uint64_t> hits;
  while (const auto r = trace.next())
    ++hits[std::string(r->key)];
  EXPECT_NEAR(hits[oracle_key(0)] / 200'000.0, 0.1336, 0.005);
  EXPECT_NEAR(hits[oracle_key(1)] / 200'000.0, 0.0668, 0.004);
  EXPECT_GT(hits.size(), 900u);
}

TEST(SyntheticTrace, SizesAreFixedPerObjectAndWithinBounds) {
  synthetic_trace trace({.objects = 300, .requests = 5000, .min_size = 100, .max_size = 1'000'000});
  std::map<std::string, std::uint64_t> size_of;
  std::set<std::uint64_t> sizes;
  while (const auto r = trace.next()) {
    EXPECT_GE(r->size, 100u);
    EXPECT_LE(r->size, 1'000'000u);
    const auto [at, inserted] = size_of.emplace(std::string(r->key), r->size);
    EXPECT_EQ(at->second, r->size);
    sizes.insert(r->size);
  }
  EXPECT_GT(sizes.size(), 100u) << "sizes spread over the range";
}

// After every 10 Zipf requests, 5 objects seen once and never again, with ids above the Zipf
// objects'.
TEST(SyntheticTrace, ScansAreOneTimeObjects) {
  synthetic_trace trace(
      {.objects = 50, .requests = 1500, .alpha = 1.0, .scan_interval = 10, .scan_length = 5});
  const auto requests = read_all(trace);
  ASSERT_EQ(requests.size(), 1500u);
  std::set<std::string> scanned;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const bool in_scan = i % 15 >= 10;
    std::uint64_t id = 0;
    for (int b = 7; b >= 0; --b)
      id = (id << 8) | static_cast<unsigned char>(requests[i].first[b]);
    if (in_scan) {
      EXPECT_GE(id, 50u) << i;
      EXPECT_TRUE(scanned.insert(requests[i].first).second) << "scanned twice: " << i;
    } else {
      EXPECT_LT(id, 50u) << i;
    }
  }
  EXPECT_EQ(trace.position(), trace.length());
}

}  // namespace
}  // namespace larder
