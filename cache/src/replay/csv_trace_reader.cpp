#include "replay/csv_trace_reader.hpp"

#include <charconv>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <larder/cache/replay/trace_error.hpp>

namespace larder {
namespace {

// A longer line is not a trace line: most likely a binary file read as csv. The bound keeps such
// a file from being read into memory whole.
constexpr std::size_t max_line_bytes = 1 << 20;

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

bool is_number(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && error == std::errc{} && end == text.data() + text.size();
}

std::optional<std::uint64_t> whole_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

csv_trace_reader::csv_trace_reader(const std::filesystem::path& path) : file_(path) {}

void csv_trace_reader::fail(std::string_view what) const {
  throw trace_error(fmt::format("{}:{}: {}", file_.name(), line_number_, what));
}

std::optional<std::string_view> csv_trace_reader::next_line() {
  for (;;) {
    std::string_view text = file_.available();
    std::size_t length = text.find('\n');
    std::size_t consumed = length + 1;
    if (length == std::string_view::npos) {
      if (text.size() > max_line_bytes) {
        ++line_number_;
        fail(fmt::format("the line is longer than {} bytes: is this a csv trace?", max_line_bytes));
      }
      if (file_.read_more()) continue;
      // The last line, without a \n. read_more() may have moved the bytes, even adding none.
      text = file_.available();
      if (text.empty()) return std::nullopt;
      length = consumed = text.size();
    }
    file_.consume(consumed);
    ++line_number_;
    std::string_view line = text.substr(0, length);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }
}

std::optional<trace_request> csv_trace_reader::next() {
  while (const auto line = next_line()) {
    if (trim(*line).empty()) continue;
    const std::size_t first_comma = line->find(',');
    const std::size_t last_comma = line->rfind(',');
    if (first_comma == std::string_view::npos || first_comma == last_comma) {
      fail(fmt::format("expected 3 fields, timestamp,key,size; found {}",
                       first_comma == std::string_view::npos ? 1 : 2));
    }
    const std::string_view timestamp = trim(line->substr(0, first_comma));
    const std::string_view key = line->substr(first_comma + 1, last_comma - first_comma - 1);
    const std::string_view size = trim(line->substr(last_comma + 1));
    const bool first = std::exchange(before_first_request_, false);
    if (first && !is_number(timestamp) && !whole_number(size)) continue;  // the header
    if (!is_number(timestamp)) {
      fail(fmt::format("the timestamp \"{}\" is not a number", timestamp));
    }
    if (key.empty()) fail("the key is empty");
    const auto bytes = whole_number(size);
    if (!bytes) fail(fmt::format("the size \"{}\" is not a whole number of bytes", size));
    return trace_request{.key = key, .size = *bytes};
  }
  return std::nullopt;
}

}  // namespace larder
