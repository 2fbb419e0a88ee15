// synthetic_trace: generated cache traces, for comparing eviction policies without a trace file
// (the miss-ratio benchmark) and for tests.
//
// 1. Popularity: each request draws an object from Zipf(alpha) over `objects` objects, the model
//    of web and CDN workloads (alpha 0.6 to 1.2 in the literature; higher is more skewed). The
//    object of rank r (1 is the most popular) has id r - 1. Draws invert the cumulative
//    distribution, precomputed: 8 bytes per object.
// 2. Scans (optional): after every `scan_interval` Zipf requests come `scan_length` requests of
//    objects seen once and never again (ids from `objects` up), as a backup or a full-table read
//    would make; policies that resist scans (S3-FIFO, W-TinyLFU) keep the popular objects through
//    them, LRU does not.
// 3. Sizes: each object's size is fixed by its id and the seed, log-uniform in [min_size,
//    max_size] (object sizes in real traces span orders of magnitude); min_size == max_size gives
//    every object the same size.
// 4. Keys are the id's 8 bytes, little-endian, as in an oracleGeneral trace. The same options
//    give the same trace: the random stream is splitmix64, not a standard-library distribution
//    (whose results differ between library implementations).
//
// Thread safety: one thread at a time; generate the same trace on two threads with two objects.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <larder/cache/replay/trace_source.hpp>

namespace larder {

struct synthetic_trace_options {
  // REQUIRES: objects > 0.
  std::uint64_t objects = 100'000;
  // Every request, scans included.
  std::uint64_t requests = 1'000'000;
  // REQUIRES: alpha >= 0 (0 is uniform).
  double alpha = 1.0;
  // REQUIRES: 0 < min_size <= max_size.
  std::uint32_t min_size = 1;
  std::uint32_t max_size = 1;
  // 0: no scans.
  std::uint64_t scan_interval = 0;
  std::uint64_t scan_length = 0;
  std::uint64_t seed = 1;
};

class synthetic_trace final : public trace_source {
 public:
  explicit synthetic_trace(const synthetic_trace_options& options);

  std::optional<trace_request> next() override;
  std::uint64_t position() const override { return emitted_; }
  std::uint64_t length() const override { return options_.requests; }

  // The size every request of object `id` has.
  std::uint32_t size_of(std::uint64_t id) const noexcept;

 private:
  std::uint64_t next_random() noexcept;
  std::uint64_t draw_zipf_id() noexcept;

  synthetic_trace_options options_;
  // cumulative_[r] = P(rank <= r + 1).
  std::vector<double> cumulative_;
  std::uint64_t random_state_;
  std::uint64_t emitted_ = 0;
  std::uint64_t zipf_since_scan_ = 0;
  std::uint64_t scan_left_ = 0;
  std::uint64_t next_scan_id_;
  std::array<char, 8> key_{};
};

}  // namespace larder
