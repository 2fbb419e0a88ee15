// How the cache-directory commands (stat, verify) turn errors into exit codes: a path that is
// not a cache directory, or one another process holds, is the operator's input (exit 2);
// anything else is unexpected (exit 3). Both are reported on stderr, prefixed "larder COMMAND: ".
#pragma once

#include <exception>
#include <iostream>
#include <string_view>

#include "exit_codes.hpp"
#include "larder/cache/disk/directory_error.hpp"

namespace larder::tools {

// Returns body()'s exit code, or the error's.
template <typename Body>
int run_on_directory(std::string_view command, Body&& body) {
  try {
    return body();
  } catch (const disk::directory_error& e) {
    std::cerr << "larder " << command << ": " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "larder " << command << ": " << e.what() << "\n";
    return exit_internal;
  }
}

}  // namespace larder::tools
