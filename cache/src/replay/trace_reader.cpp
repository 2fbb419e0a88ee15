#include <algorithm>
#include <string>

#include <larder/cache/replay/trace_reader.hpp>

#include "replay/csv_trace_reader.hpp"
#include "replay/oracle_trace_reader.hpp"

namespace larder {
namespace {

// ASCII only: std::tolower would make a file's format depend on the locale.
bool equals_ignoring_case(std::string_view a, std::string_view b) {
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  return std::ranges::equal(a, b, [&](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace

std::string_view to_string(trace_format format) noexcept {
  switch (format) {
    case trace_format::csv:
      return "csv";
    case trace_format::oracle:
      return "oracle";
  }
  return "unknown";
}

std::optional<trace_format> parse_trace_format(std::string_view name) noexcept {
  for (const trace_format f : {trace_format::csv, trace_format::oracle}) {
    if (equals_ignoring_case(name, to_string(f))) return f;
  }
  return std::nullopt;
}

std::optional<trace_format> trace_format_of(const std::filesystem::path& file) {
  std::filesystem::path name = file.filename();
  if (equals_ignoring_case(name.extension().string(), ".zst")) name = name.stem();
  const std::string extension = name.extension().string();
  if (equals_ignoring_case(extension, ".csv")) return trace_format::csv;
  if (equals_ignoring_case(extension, ".oracleGeneral") ||
      equals_ignoring_case(extension, ".bin")) {
    return trace_format::oracle;
  }
  return std::nullopt;
}

std::unique_ptr<trace_source> open_trace(const std::filesystem::path& file, trace_format format) {
  switch (format) {
    case trace_format::csv:
      return std::make_unique<csv_trace_reader>(file);
    case trace_format::oracle:
      return std::make_unique<oracle_trace_reader>(file);
  }
  return nullptr;
}

}  // namespace larder
