// `larder verify DIR [--repair]`: checks every entry of a disk tier's directory against its
// checksum, lists what is damaged, and with --repair clears it (the reasoning is in
// larder/cache/disk/directory_report.hpp, note 4).
#pragma once

#include <cstddef>
#include <string>

#include <CLI/App.hpp>

namespace larder::tools {

struct verify_options {
  std::string directory;
  bool repair = false;
  std::size_t max_listed = 20;
};

// Adds the subcommand to `app`; `exit_status` receives the command's exit code when it runs.
void add_verify_command(CLI::App& app, int& exit_status);

int run_verify(const verify_options& options);

}  // namespace larder::tools
