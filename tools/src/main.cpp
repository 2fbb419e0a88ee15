// The larder command: one program, a subcommand per job.
#include <exception>
#include <iostream>

#include <CLI/App.hpp>
#include <CLI/Config.hpp>
#include <CLI/Formatter.hpp>

#include "config_command.hpp"
#include "demo_command.hpp"
#include "exit_codes.hpp"
#include "replay_command.hpp"
#include "serve_command.hpp"
#include "stat_command.hpp"
#include "verify_command.hpp"
#include "warm_command.hpp"

int main(int argc, char** argv) {
  using namespace larder::tools;
  CLI::App app{
      "larder: a memory + disk cache runtime for C++ training loops.\n"
      "Exit codes: 0 success, 1 the command found a problem, 2 bad arguments or configuration, "
      "3 unexpected error."};
  app.set_version_flag("--version", "larder 0.1.0");
  app.require_subcommand(1);
  int exit_status = exit_ok;
  add_demo_command(app, exit_status);
  add_config_command(app, exit_status);
  add_serve_command(app, exit_status);
  add_replay_command(app, exit_status);
  add_stat_command(app, exit_status);
  add_verify_command(app, exit_status);
  add_warm_command(app, exit_status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? exit_ok : exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "larder: " << e.what() << "\n";
    return exit_internal;
  }
  return exit_status;
}
