#include "stat_command.hpp"

#include <memory>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "directory_command.hpp"
#include "exit_codes.hpp"
#include "larder/cache/disk/directory_report.hpp"

namespace larder::tools {
namespace {

std::string human_bytes(std::uint64_t bytes) {
  constexpr std::string_view units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

constexpr std::string_view age_source =
    "region file modification time (the format keeps no per-entry write time)";

void print_json(const disk::directory_report& r) {
  auto ages = nlohmann::ordered_json::array();
  for (const auto& bucket : r.live_ages) {
    const bool last = bucket.younger_than == std::chrono::seconds::max();
    ages.push_back(
        {{"label", bucket.label},
         {"younger_than_seconds", last ? nlohmann::ordered_json(nullptr)
                                       : nlohmann::ordered_json(bucket.younger_than.count())},
         {"entries", bucket.entries},
         {"bytes", bucket.bytes}});
  }
  const nlohmann::ordered_json out = {
      {"path", r.path.string()},
      {"format_version", r.format_version},
      {"region_size", r.region_size},
      {"region_files", r.region_files},
      {"file_bytes", r.file_bytes},
      {"live_entries", r.live_entries},
      {"live_bytes", r.live_bytes},
      {"dead_entries", r.dead_entries},
      {"dead_bytes", r.dead_bytes},
      {"expired_entries", r.expired_entries},
      {"tombstones", r.tombstones},
      {"live_share", r.live_share()},
      {"live_ages", ages},
      {"age_source", age_source},
      {"index_snapshot", r.index_snapshot},
      {"lock_owner_pid",
       r.lock_owner ? nlohmann::ordered_json(*r.lock_owner) : nlohmann::ordered_json(nullptr)},
  };
  fmt::print("{}\n", out.dump());
}

void print_text(const disk::directory_report& r) {
  fmt::print("cache directory {}\n", r.path.string());
  fmt::print("  format version {}, region size {} ({} bytes)\n", r.format_version,
             human_bytes(r.region_size), r.region_size);
  fmt::print("  {} region files, {} ({} bytes)\n", r.region_files, human_bytes(r.file_bytes),
             r.file_bytes);
  fmt::print("  live: {} entries, {} bytes ({})\n", r.live_entries, r.live_bytes,
             human_bytes(r.live_bytes));
  fmt::print(
      "  dead: {} entries, {} bytes ({}): superseded, erased or expired values ({} expired) and "
      "{} tombstones\n",
      r.dead_entries, r.dead_bytes, human_bytes(r.dead_bytes), r.expired_entries, r.tombstones);
  fmt::print("  live share of entry bytes: {:.1f} %\n", 100 * r.live_share());
  fmt::print("  live entries by age, from the {}:\n", age_source);
  for (const auto& bucket : r.live_ages) {
    fmt::print("    {:<18} {:>10} entries {:>12}\n", bucket.label, bucket.entries,
               human_bytes(bucket.bytes));
  }
  fmt::print("  index snapshot: {}\n",
             r.index_snapshot ? "present (closed cleanly: the next open loads the index)"
                              : "absent (not closed cleanly, or open now: the next open rebuilds "
                                "the index by scanning the regions)");
  if (r.lock_owner) {
    fmt::print("  lock: held by process {} (open now: these figures may change as it writes)\n",
               *r.lock_owner);
  } else {
    fmt::print("  lock: free (no process has the directory open)\n");
  }
}

}  // namespace

int run_stat(const stat_options& options) {
  return run_on_directory("stat", [&] {
    const auto report = disk::inspect_cache_directory(options.directory);
    options.json ? print_json(report) : print_text(report);
    return exit_ok;
  });
}

void add_stat_command(CLI::App& app, int& exit_status) {
  auto options = std::make_shared<stat_options>();
  CLI::App* stat = app.add_subcommand(
      "stat",
      "Show what a disk tier's cache directory holds: format version and region size (from the "
      "manifest), region files and their bytes, live entries (the newest value of each key, not "
      "erased or expired) and dead ones (superseded, erased or expired values, and tombstones) "
      "with their bytes and the live share, the live entries by age, whether an index snapshot "
      "is there (a clean close) and which process holds the directory's lock.\n"
      "Entries are counted as a reopen after a crash would rebuild the index. The format keeps "
      "no write time per entry: ages are those of the region files (modification time).\n"
      "Read-only: works while a cache has the directory open (its figures may then change as "
      "it writes). It reads every region file, so it takes as long as reading the directory.\n"
      "Examples:\n"
      "  larder stat ./cache/training_cache\n"
      "  larder stat --json ./cache/training_cache | jq .live_share");
  stat->add_option("directory", options->directory, "The disk tier's directory (disk.path)")
      ->required();
  stat->add_flag("--json", options->json, "Print one JSON object instead of text");
  stat->callback([options, &exit_status] { exit_status = run_stat(*options); });
}

}  // namespace larder::tools
