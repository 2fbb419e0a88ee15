// trace_source: a stream of trace requests, read once from start to end. Trace files
// (trace_reader.hpp) and generated traces (synthetic_trace.hpp) are sources; a replay consumes
// one (trace_replayer.hpp).
//
// Thread safety: a source is used by one thread at a time. To read a trace on two threads, open
// it twice.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include <larder/cache/replay/trace_request.hpp>

namespace larder {

class trace_source {
 public:
  virtual ~trace_source() = default;

  // The next request, or nullopt after the last. The request's key is valid until the next call.
  // Throws trace_error when the trace is malformed or cannot be read.
  virtual std::optional<trace_request> next() = 0;

  // How far the reading has come, for a progress display: position() of length() units (bytes
  // of a file, requests of a generated trace); position() == length() at the end.
  virtual std::uint64_t position() const = 0;
  virtual std::uint64_t length() const = 0;
};

// How often the readers of a whole trace (replay_trace, measure_working_set) tell their
// trace_progress how far they have come: often enough for a progress bar (a few hundred times a
// second), rarely enough to cost nothing.
inline constexpr std::uint64_t requests_between_progress_reports = 1 << 16;

// Told how far the reading of a trace has come: position() of length().
using trace_progress = std::function<void(std::uint64_t position, std::uint64_t length)>;

}  // namespace larder
