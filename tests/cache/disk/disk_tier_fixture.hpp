// The disk tier's test fixture: a tier on real files in a scratch directory, through the real
// io_uring ring, with small regions, and deterministic values that a reader can check byte for
// byte. Shared by the disk tier's test files.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>

#include <gtest/gtest.h>

#include "larder/cache/disk_tier.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "scratch_directory.hpp"

namespace larder {

inline constexpr std::uint64_t region = 64
                                        << 10;  // small regions: tests cross many region boundaries

// The value stored under key i: deterministic, so a reader can check every byte it gets.
inline std::string value_for(int i, std::size_t size = 3000) {
  std::string v = "value-" + std::to_string(i) + ":";
  std::mt19937 rng(static_cast<unsigned>(i));
  while (v.size() < size)
    v.push_back(static_cast<char>('a' + rng() % 26));
  return v;
}

inline std::string key_for(int i) {
  return "dataset/sample/" + std::to_string(i);
}

inline std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s));
}

class DiskTierTest : public ::testing::Test {
 protected:
  disk_tier_options options(std::uint64_t capacity = 64 * region) {
    disk_tier_options o;
    o.path = scratch_.path() / "cache";
    o.capacity_bytes = capacity;
    o.region_size = region;
    return o;
  }

  std::unique_ptr<disk_tier> open(const disk_tier_options& o, io::file_io* via = nullptr) {
    return rt_.run(disk_tier::open(rt_.executor(), via ? *via : file_io_, o));
  }

  bool put(disk_tier& tier, const std::string& key, const std::string& value,
           std::chrono::system_clock::time_point expires_at = {}) {
    return rt_.run(tier.put(key, bytes(value), expires_at));
  }

  std::optional<std::string> get(disk_tier& tier, const std::string& key) {
    auto v = rt_.run(tier.get(key));
    if (!v) return std::nullopt;
    return std::string(v->view());
  }

  void put_range(disk_tier& tier, int first, int last, std::size_t size = 3000) {
    for (int i = first; i < last; ++i)
      ASSERT_TRUE(put(tier, key_for(i), value_for(i, size)));
  }

  // Every key in [first, last) reads back its exact value.
  void expect_all(disk_tier& tier, int first, int last, std::size_t size = 3000) {
    for (int i = first; i < last; ++i) {
      auto v = get(tier, key_for(i));
      ASSERT_TRUE(v) << key_for(i);
      ASSERT_EQ(*v, value_for(i, size)) << key_for(i);
    }
  }

  testing::scratch_directory scratch_;
  runtime rt_{{.threads = 2}};
  io::ring ring_{rt_.executor()};
  io::ring_file_io file_io_{ring_};
};

}  // namespace larder
