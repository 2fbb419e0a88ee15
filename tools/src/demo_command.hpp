// `larder demo`: a training loop that reads its samples through a larder cache, the project's
// main job and the quickest way to see what the cache does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/App.hpp>

namespace larder::tools {

struct demo_options {
  std::optional<std::string> config_file;
  std::uint32_t samples = 2000;
  std::uint32_t sample_bytes = 64 * 1024;
  std::uint32_t epochs = 3;
  std::uint32_t batch_size = 32;
  std::uint32_t load_latency_us = 2000;
  std::uint32_t compute_us = 5000;
  // Batches read ahead; default: the configuration's training_cache.prefetch.
  std::optional<std::uint32_t> prefetch;
  std::uint64_t seed = 42;
  unsigned threads = 0;
  bool memory_only = false;
  // Where the dataset and the cache live; default: a temporary directory removed at the end.
  std::optional<std::string> dir;
};

// Adds the subcommand to `app`; `exit_status` receives the command's exit code when it runs.
void add_demo_command(CLI::App& app, int& exit_status);

int run_demo(const demo_options& options);

}  // namespace larder::tools
