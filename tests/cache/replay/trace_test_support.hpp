// Helpers for the replay tests: oracleGeneral records written by hand, and a trace read into a
// list.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <larder/cache/replay/trace_source.hpp>

namespace larder::testing {

// One oracleGeneral record: u32 timestamp, u64 id, u32 size, i64 next access, little-endian.
inline std::string oracle_record(std::uint32_t timestamp, std::uint64_t id, std::uint32_t size,
                                 std::int64_t next_access = -1) {
  std::string record;
  const auto put = [&](std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i)
      record += static_cast<char>(value >> (8 * i));
  };
  put(timestamp, 4);
  put(id, 8);
  put(size, 4);
  put(static_cast<std::uint64_t>(next_access), 8);
  return record;
}

// The key an oracleGeneral trace gives object `id`: its 8 bytes, little-endian.
inline std::string oracle_key(std::uint64_t id) {
  return oracle_record(0, id, 0).substr(4, 8);
}

using request_list = std::vector<std::pair<std::string, std::uint64_t>>;

// Every request of `source`, key and size, to its end.
inline request_list read_all(trace_source& source) {
  request_list requests;
  while (const auto r = source.next())
    requests.emplace_back(std::string(r->key), r->size);
  return requests;
}

}  // namespace larder::testing
