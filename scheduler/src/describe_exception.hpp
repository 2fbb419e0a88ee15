// describe(): the message of an exception caught as an exception_ptr, for log lines and errors.
#pragma once

#include <exception>
#include <string>

namespace larder::detail {

inline std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace larder::detail
