// trace_request: one request of a cache trace, as a trace_source hands it out.
//
// The key refers to the source's own buffer: it stays valid until the source's next call to
// next() and no longer. Plain value type otherwise.
#pragma once

#include <cstdint>
#include <string_view>

namespace larder {

struct trace_request {
  // The object's key: the CSV key text, or the oracleGeneral object id as its 8 raw bytes.
  std::string_view key;
  // The object's size in bytes, as the trace records it (0 in some real traces).
  std::uint64_t size = 0;
};

}  // namespace larder
