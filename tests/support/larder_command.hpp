// Runs the larder command (LARDER_COMMAND, defined by the test's CMake target) as an operator
// would, through a shell, and collects what it printed and how it exited.
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace larder::testing {

struct command_result {
  int exit_code = -1;  // -1: killed by a signal, or the shell could not be started
  std::string output;  // stdout and stderr together
};

// `prefix` goes before the command on its shell line: environment assignments (`CACHE_POLICY=x`)
// or a wrapper (`setpriv ...`).
inline command_result run_larder(const std::string& arguments, const std::string& prefix = "") {
  const std::string command = prefix + " " + LARDER_COMMAND + " " + arguments + " 2>&1";
  command_result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr)
    result.output += chunk.data();
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace larder::testing
