// working_set: what a trace touches, the figure a cache size given as a percentage is a share of
// (`larder replay --size 10%`).
//
// The working set's bytes are the sum of each distinct object's size as first seen; objects are
// told apart by a 64-bit hash of their key (xxh3), which on a trace of 100 million objects
// merges two of them with a probability of about 3 in 10000, and costs a fraction of the memory
// of the keys themselves. Requests of size 0 are skipped, as a replay skips them
// (trace_replayer.hpp).
//
// Thread safety: a pure function of the source it reads.
#pragma once

#include <cstdint>

#include <larder/cache/replay/trace_source.hpp>

namespace larder {

struct working_set {
  std::uint64_t requests = 0;
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0;
  std::uint64_t largest_object = 0;

  bool operator==(const working_set&) const = default;
};

// Reads `source` to its end, telling `progress` (if set) how far it has come every 64Ki requests
// and at the end. Throws what the source throws (trace_error).
working_set measure_working_set(trace_source& source, const trace_progress& progress = {});

}  // namespace larder
