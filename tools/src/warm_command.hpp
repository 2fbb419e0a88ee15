// `larder warm --config FILE SOURCE`: preloads a dataset into the disk tier of the configured
// cache, under the keys dataset_cache gives its samples, so that a training job that then
// streams the dataset through larder reads none of it from the source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <CLI/App.hpp>

namespace larder::tools {

struct warm_options {
  std::string config_file;
  // A directory (one sample per regular file) or, with record_bytes, a file of fixed-size
  // records.
  std::string source;
  std::optional<std::uint64_t> record_bytes;
  // Source reads in flight at once.
  std::size_t parallel = 16;
};

// Adds the subcommand to `app`; `exit_status` receives the command's exit code when it runs.
void add_warm_command(CLI::App& app, int& exit_status);

int run_warm(const warm_options& options);

}  // namespace larder::tools
