// `larder replay`: replays a cache trace (csv or libCacheSim's oracleGeneral) through a memory
// tier for each of some eviction policies and cache sizes, and prints the object and byte miss
// ratios: how the policies would have done on that workload.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <CLI/App.hpp>

namespace larder::tools {

struct replay_options {
  std::string trace;
  // csv or oracle; default: from the file name.
  std::optional<std::string> format;
  // Policy names, or "all".
  std::vector<std::string> policies{"all"};
  // Bytes (200MB, 1GiB, a bare number of bytes) or a percentage of the working set; with
  // ignore_size, object counts or a percentage of the distinct objects.
  std::vector<std::string> sizes;
  bool ignore_size = false;
  bool count_overhead = false;
  std::size_t shards = 1;
  unsigned threads = 2;
  bool csv = false;
  std::optional<std::string> plot;
};

// Adds the subcommand to `app`; `exit_status` receives the command's exit code when it runs.
void add_replay_command(CLI::App& app, int& exit_status);

int run_replay(const replay_options& options);

}  // namespace larder::tools
