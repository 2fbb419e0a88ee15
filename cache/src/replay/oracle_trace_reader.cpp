#include "replay/oracle_trace_reader.hpp"

#include <fmt/format.h>

#include <larder/cache/replay/trace_error.hpp>

namespace larder {
namespace {

std::uint32_t load_u32_le(const char* bytes) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i)
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

[[noreturn]] void truncated(const std::string& name, std::uint64_t offset, std::uint64_t bytes) {
  throw trace_error(fmt::format(
      "{}: truncated record at byte offset {}: {} of {} bytes (record {}); an oracleGeneral "
      "trace is a sequence of {}-byte records",
      name, offset, bytes, oracle_trace_reader::record_bytes,
      offset / oracle_trace_reader::record_bytes + 1, oracle_trace_reader::record_bytes));
}

}  // namespace

oracle_trace_reader::oracle_trace_reader(const std::filesystem::path& path) : file_(path) {
  if (!file_.compressed() && file_.file_size() % record_bytes != 0) {
    const std::uint64_t whole = file_.file_size() / record_bytes * record_bytes;
    truncated(file_.name(), whole, file_.file_size() - whole);
  }
}

std::optional<trace_request> oracle_trace_reader::next() {
  while (file_.available().size() < record_bytes) {
    if (file_.read_more()) continue;
    if (file_.available().empty()) return std::nullopt;
    truncated(file_.name(), file_.offset(), file_.available().size());
  }
  const char* record = file_.available().data();
  file_.consume(record_bytes);
  return trace_request{.key = std::string_view(record + id_offset, 8),
                       .size = load_u32_le(record + size_offset)};
}

}  // namespace larder
