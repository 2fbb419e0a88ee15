#include "verify_command.hpp"

#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "directory_command.hpp"
#include "exit_codes.hpp"
#include "larder/cache/disk/directory_report.hpp"
#include "progress_bar.hpp"

namespace larder::tools {
namespace {

std::string_view describe(disk::damage_kind kind) {
  switch (kind) {
    case disk::damage_kind::corrupt_entry:
      return "corrupt entry";
    case disk::damage_kind::region_header:
      return "corrupt region header";
    case disk::damage_kind::torn_tail:
      return "torn tail";
  }
  return "damage";
}

int verify(const verify_options& options) {
  std::optional<progress_bar> bar;
  const auto report = disk::verify_cache_directory(
      options.directory, {.repair = options.repair, .max_listed = options.max_listed},
      [&](std::uint64_t done, std::uint64_t total) {
        if (!bar) bar.emplace("verify", total);
        bar->update(done);
      });
  if (bar) bar->finish();
  if (report.lock_owner) {
    std::cerr << fmt::format(
        "larder verify: process {} has the directory open: the results may race its writes "
        "(a region being written can show a torn tail)\n",
        *report.lock_owner);
  }
  fmt::print("verified {}: {} regions, {} bytes read\n", options.directory, report.regions,
             report.bytes_read);
  fmt::print("  entries checked {}, corrupt {}, torn tails {}\n", report.entries_checked,
             report.corrupt, report.torn_tails);
  for (const auto& d : report.damage) {
    fmt::print("  {}: region {} offset {} ({} bytes)\n", describe(d.kind), d.region_file, d.offset,
               d.length);
  }
  const std::uint64_t counted = report.corrupt + report.torn_tails;
  if (counted > report.damage.size()) {
    fmt::print("  ... and {} more (--max-listed)\n", counted - report.damage.size());
  }
  if (report.repaired && counted > 0) {
    fmt::print(
        "repaired: cleared {} damaged stretch(es); no open returns them, every intact entry "
        "stays\n",
        counted);
  }
  return report.clean() ? exit_ok : exit_failure;
}

}  // namespace

int run_verify(const verify_options& options) {
  return run_on_directory("verify", [&] { return verify(options); });
}

void add_verify_command(CLI::App& app, int& exit_status) {
  auto options = std::make_shared<verify_options>();
  CLI::App* verify = app.add_subcommand(
      "verify",
      "Check every entry of every region of a disk tier's cache directory against its checksum "
      "(and its header's sizes), with a progress bar on stderr over the region files' bytes. "
      "Prints the entries checked, each corrupt entry's region file and offset, and torn tails "
      "(the end of a region whose write a crash cut short: normal after a crash, not "
      "corruption).\n"
      "Exit codes: 0 nothing corrupt, 1 corruption found (also when --repair cleared it), 2 not "
      "a cache directory, or --repair while another process has it open, 3 unexpected error.\n"
      "Without --repair it only reads, also while a cache has the directory open (the results "
      "may then race its writes).\n"
      "--repair takes the directory's lock (refused, naming the process, while another has it "
      "open) and overwrites each damaged stretch and torn tail with zeros, and a damaged region "
      "header with a fresh one. That is all it needs: every read of the format checks the "
      "checksum, so damaged bytes are never returned anyway; cleared, they read as padding, the "
      "entries after them are found as before, and nothing that verified is rewritten. An index "
      "snapshot (a clean close) is kept, so that a key whose newest entry was damaged is a miss, "
      "not an older value brought back by a rescan.\n"
      "Examples:\n"
      "  larder verify ./cache/training_cache\n"
      "  larder verify --repair ./cache/training_cache   # with no cache running on it");
  verify->add_option("directory", options->directory, "The disk tier's directory (disk.path)")
      ->required();
  verify->add_flag("--repair", options->repair,
                   "Clear the damaged entries so that verify comes back clean (needs the lock)");
  verify
      ->add_option("--max-listed", options->max_listed,
                   "List at most this many damaged stretches (all are counted)")
      ->capture_default_str();
  verify->callback([options, &exit_status] { exit_status = run_verify(*options); });
}

}  // namespace larder::tools
