// `larder serve`: the background cleanup service. Opens the configured caches (the three
// profiles of cache_set), serves their metrics over HTTP when cache.metrics.enabled
// (metrics_endpoint, serve_metrics), runs their scheduled cleanup, logs each pass, and on SIGINT
// or SIGTERM stops the endpoint and the passes, flushes the disk tiers, writes their index
// snapshots and exits 0.
#pragma once

#include <CLI/App.hpp>

namespace larder::tools {

// Adds the subcommand to `app`; `exit_status` receives the command's exit code when it runs.
void add_serve_command(CLI::App& app, int& exit_status);

}  // namespace larder::tools
