// progress_bar: a one-line progress display on stderr for long commands. Draws only when stderr
// is a terminal (logs and CI output stay clean) and at most ten times a second.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace larder::tools {

class progress_bar {
 public:
  progress_bar(std::string label, std::size_t total);
  void update(std::size_t done);
  // Prints `line` (and a newline) on stderr, on a line of its own above the bar, which the next
  // update() draws again: for a message in the middle of the work.
  void print_above(std::string_view line);
  // Clears the line.
  void finish();

 private:
  std::string label_;
  std::size_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace larder::tools
