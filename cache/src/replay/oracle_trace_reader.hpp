// oracle_trace_reader: libCacheSim's oracleGeneral format (trace_reader.hpp), a 24-byte record
// at a time.
#pragma once

#include <filesystem>

#include <larder/cache/replay/trace_source.hpp>

#include "replay/trace_file.hpp"

namespace larder {

class oracle_trace_reader final : public trace_source {
 public:
  // The record's layout: u32 timestamp, u64 object id, u32 size, i64 next access.
  static constexpr std::size_t record_bytes = 24;
  static constexpr std::size_t id_offset = 4;
  static constexpr std::size_t size_offset = 12;

  // Throws trace_error for an uncompressed file that is not a whole number of records, before
  // anything is read (a compressed one is found out at its end).
  explicit oracle_trace_reader(const std::filesystem::path& path);

  std::optional<trace_request> next() override;
  std::uint64_t position() const override { return file_.file_position(); }
  std::uint64_t length() const override { return file_.file_size(); }

 private:
  trace_file file_;
};

}  // namespace larder
