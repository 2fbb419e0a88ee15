// `larder config`: checks a configuration and shows the settings it resolves to, or prints the
// embedded default configuration as a template to start from.
#pragma once

#include <CLI/App.hpp>

namespace larder::tools {

// Adds the subcommand to `app`; `exit_status` receives the command's exit code when it runs.
void add_config_command(CLI::App& app, int& exit_status);

}  // namespace larder::tools
