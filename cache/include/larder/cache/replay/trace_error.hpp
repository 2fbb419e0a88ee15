// trace_error: a trace that cannot be read (a missing file, a malformed line, a truncated record).
// The message names the file and where in it the problem is (line number, or byte offset of a
// binary record), and what was wrong.
#pragma once

#include <stdexcept>
#include <string>

namespace larder {

class trace_error : public std::runtime_error {
 public:
  explicit trace_error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace larder
