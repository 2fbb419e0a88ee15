// directory_error: a disk-tier directory that cannot be used as asked, with a message that names
// it and says what to do (in use by another process, not a cache directory, unknown format,
// changed settings). Thrown by disk_tier::open() and the directory tools (directory_report.hpp).
#pragma once

#include <stdexcept>

namespace larder::disk {

class directory_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace larder::disk
