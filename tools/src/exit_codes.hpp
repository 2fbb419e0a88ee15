// Exit codes of the larder command, the same for every subcommand (documented in README.md).
#pragma once

namespace larder::tools {

enum exit_code : int {
  exit_ok = 0,
  // The command ran and found a problem (for demo: a sample came back with wrong bytes).
  exit_failure = 1,
  // Bad arguments, configuration or input (for replay: a malformed trace): no result.
  exit_usage = 2,
  // An unexpected error stopped the command.
  exit_internal = 3,
};

}  // namespace larder::tools
