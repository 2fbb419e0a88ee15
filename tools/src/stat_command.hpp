// `larder stat DIR`: what a disk tier's directory holds (format, regions, live and dead entries
// and bytes, the ages of the live entries, a clean close or not, who has it open), as text or
// one JSON object. Read-only: works while a cache has the directory open.
#pragma once

#include <string>

#include <CLI/App.hpp>

namespace larder::tools {

struct stat_options {
  std::string directory;
  bool json = false;
};

// Adds the subcommand to `app`; `exit_status` receives the command's exit code when it runs.
void add_stat_command(CLI::App& app, int& exit_status);

int run_stat(const stat_options& options);

}  // namespace larder::tools
