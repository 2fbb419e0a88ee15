// csv_trace_reader: the csv trace format (trace_reader.hpp has its rules), one line at a time.
#pragma once

#include <filesystem>

#include <larder/cache/replay/trace_source.hpp>

#include "replay/trace_file.hpp"

namespace larder {

class csv_trace_reader final : public trace_source {
 public:
  explicit csv_trace_reader(const std::filesystem::path& path);

  std::optional<trace_request> next() override;
  std::uint64_t position() const override { return file_.file_position(); }
  std::uint64_t length() const override { return file_.file_size(); }

 private:
  // The next line without its \n (nor a \r before it), or nullopt at the end of the file.
  std::optional<std::string_view> next_line();
  [[noreturn]] void fail(std::string_view what) const;

  trace_file file_;
  std::uint64_t line_number_ = 0;
  bool before_first_request_ = true;
};

}  // namespace larder
