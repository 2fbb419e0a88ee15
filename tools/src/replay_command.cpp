#include "replay_command.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "exit_codes.hpp"
#include "larder/cache/replay/trace_error.hpp"
#include "larder/cache/replay/trace_reader.hpp"
#include "larder/cache/replay/trace_replayer.hpp"
#include "larder/cache/replay/working_set.hpp"
#include "larder/config/cache_config.hpp"
#include "larder/config/size_parser.hpp"
#include "miss_ratio_plot.hpp"
#include "progress_bar.hpp"

namespace larder::tools {
namespace {

// Bad arguments: reported with exit_usage, before anything is replayed.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A --size as written, and what it asks for: an absolute size (bytes, or objects with
// --ignore-size) or a share of the working set.
struct size_request {
  std::string text;
  size_spec spec;
};

std::vector<memory_policy> parse_policies(const std::vector<std::string>& names) {
  std::vector<memory_policy> policies;
  for (const std::string& name : names) {
    if (name == "all") {
      policies.insert(policies.end(), std::begin(all_memory_policies),
                      std::end(all_memory_policies));
    } else if (const auto policy = parse_memory_policy(name)) {
      policies.push_back(*policy);
    } else {
      std::string accepted = "all";
      for (const memory_policy p : all_memory_policies)
        accepted += fmt::format(", {}", to_string(p));
      throw usage_error(fmt::format("--policy \"{}\" is not a policy; use {}", name, accepted));
    }
  }
  return policies;
}

std::optional<std::uint64_t> whole_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Unlike the configuration's sizes, a bare number is bytes (objects with --ignore-size), as cache
// simulators take it: `--size 4897` with --ignore-size is 4897 objects.
size_request parse_cache_size(const std::string& text, bool ignore_size) {
  const bool percentage = text.find('%') != std::string::npos;
  if (!percentage) {
    if (const auto count = whole_number(text); count && *count > 0) {
      return {text, size_spec{.bytes = *count}};
    }
  }
  if (ignore_size && !percentage) {
    throw usage_error(fmt::format(
        "--size \"{}\": with --ignore-size a size is a number of objects (4897) or a percentage "
        "of the trace's distinct objects (10%)",
        text));
  }
  const auto spec = parse_size(text);
  const bool has_unit = std::ranges::any_of(
      text, [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
  if (!spec || (!percentage && !has_unit)) {
    throw usage_error(fmt::format(
        "--size \"{}\" is not a size; use e.g. 200MB, 1GiB, 10% of the working set or a whole "
        "number of bytes",
        text));
  }
  return {text, *spec};
}

trace_format format_of(const replay_options& options) {
  if (options.format) {
    if (const auto format = parse_trace_format(*options.format)) return *format;
    throw usage_error(
        fmt::format("--format \"{}\" is not a trace format; use csv or oracle", *options.format));
  }
  if (const auto format = trace_format_of(options.trace)) return *format;
  throw usage_error(fmt::format(
      "cannot tell the format of {} from its name (.csv, .oracleGeneral or .bin, optionally "
      "followed by .zst); use --format csv or --format oracle",
      options.trace));
}

std::string describe_size(std::uint64_t size, bool objects) {
  if (objects) return fmt::format("{} objects", size);
  if (size < 1000) return fmt::format("{} B", size);
  constexpr std::string_view units[] = {"KB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(size) / 1000;
  std::size_t unit = 0;
  while (value >= 1000 && unit + 1 < std::size(units)) {
    value /= 1000;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

struct replay_row {
  memory_policy policy;
  const size_request* size;
  std::uint64_t capacity;
  replay_counts counts;
};

void print_csv(const std::vector<replay_row>& rows) {
  std::cout << "policy,size,requests,object_miss_ratio,byte_miss_ratio\n";
  for (const replay_row& r : rows) {
    std::cout << fmt::format("{},{},{},{:.6f},{:.6f}\n", to_string(r.policy), r.capacity,
                             r.counts.requests, r.counts.object_miss_ratio(),
                             r.counts.byte_miss_ratio());
  }
}

void print_table(const std::vector<replay_row>& rows, bool objects) {
  std::vector<std::array<std::string, 5>> cells;
  cells.push_back({"policy", "cache size", "requests", "object miss ratio", "byte miss ratio"});
  for (const replay_row& r : rows) {
    std::string size = describe_size(r.capacity, objects);
    if (r.size->spec.is_percentage()) size = fmt::format("{} ({})", r.size->text, size);
    cells.push_back({std::string(to_string(r.policy)), size, std::to_string(r.counts.requests),
                     fmt::format("{:.4f}", r.counts.object_miss_ratio()),
                     fmt::format("{:.4f}", r.counts.byte_miss_ratio())});
  }
  std::array<std::size_t, 5> width{};
  for (const auto& row : cells) {
    for (std::size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : cells) {
    // Names to the left, numbers to the right.
    std::cout << fmt::format("{:<{}}  {:<{}}  {:>{}}  {:>{}}  {:>{}}\n", row[0], width[0], row[1],
                             width[1], row[2], width[2], row[3], width[3], row[4], width[4]);
  }
}

int replay(const replay_options& options) {
  if (options.ignore_size && options.count_overhead) {
    throw usage_error(
        "--ignore-size and --count-overhead do not go together: with --ignore-size "
        "every object counts as 1");
  }
  const trace_format format = format_of(options);
  const std::vector<memory_policy> policies = parse_policies(options.policies);
  std::vector<size_request> sizes;
  for (const std::string& text : options.sizes)
    sizes.push_back(parse_cache_size(text, options.ignore_size));
  if (policies.empty() || sizes.empty()) {
    throw usage_error("give at least one --policy and one --size");
  }
  if (options.plot && !gnuplot_available()) {
    std::cerr << "larder replay: --plot needs gnuplot, which is not installed (Debian: apt-get "
                 "install gnuplot-nox)\n";
    return exit_failure;
  }
  const trace_opener open = [&] { return open_trace(options.trace, format); };

  // A percentage needs the working set, which takes a pass over the trace of its own before the
  // replay: the trace is read twice, streaming, rather than held in memory, since real traces are
  // larger than memory. Without a percentage the pass is skipped.
  std::optional<working_set> measured;
  if (std::ranges::any_of(sizes, [](const size_request& s) { return s.spec.is_percentage(); })) {
    const auto source = open();
    progress_bar bar("working set", source->length());
    measured =
        measure_working_set(*source, [&](std::uint64_t done, std::uint64_t) { bar.update(done); });
    bar.finish();
  }
  const std::uint64_t base = !measured             ? 0
                             : options.ignore_size ? measured->objects
                                                   : measured->bytes;

  std::vector<replay_row> rows;
  std::vector<replay_settings> settings;
  for (const memory_policy policy : policies) {
    for (const size_request& size : sizes) {
      const std::uint64_t capacity = size.spec.resolve(base);
      if (capacity == 0) {
        throw usage_error(fmt::format("--size {} of a working set of {} is nothing", size.text,
                                      describe_size(base, options.ignore_size)));
      }
      rows.push_back({policy, &size, capacity, {}});
      settings.push_back({.policy = policy,
                          .capacity = capacity,
                          .ignore_size = options.ignore_size,
                          .count_overhead = options.count_overhead,
                          .shards = options.shards});
    }
  }

  // The bar is made at the first report, when the trace's length is known.
  std::optional<progress_bar> bar;
  const std::vector<replay_counts> counts =
      replay_trace(open, settings, options.threads, [&](std::uint64_t done, std::uint64_t total) {
        if (!bar) bar.emplace("replay", total);
        bar->update(done);
      });
  if (bar) bar->finish();
  for (std::size_t i = 0; i < rows.size(); ++i)
    rows[i].counts = counts[i];

  if (options.csv) {
    print_csv(rows);
  } else {
    const replay_counts& any = rows.front().counts;
    std::cout << fmt::format("{} ({}): {} requests", options.trace, to_string(format),
                             any.requests);
    if (measured) {
      std::cout << fmt::format(", working set {} objects, {}", measured->objects,
                               describe_size(measured->bytes, false));
    }
    // The memory tier rounds the shard count up to a power of two.
    const std::size_t shards = std::bit_ceil(options.shards);
    std::cout << fmt::format("; {} shard{}, {}\n", shards, shards == 1 ? "" : "s",
                             options.ignore_size      ? "every object counted as 1"
                             : options.count_overhead ? "entries weighed with their overhead"
                                                      : "value bytes counted");
    print_table(rows, options.ignore_size);
  }
  if (const std::uint64_t skipped = rows.front().counts.zero_size_requests; skipped > 0) {
    std::cerr << fmt::format("larder replay: skipped {} requests of size 0, as libCacheSim does\n",
                             skipped);
  }

  if (options.plot) {
    std::vector<miss_ratio_point> points;
    for (const replay_row& r : rows) {
      points.push_back({std::string(to_string(r.policy)), r.capacity, r.counts.object_miss_ratio(),
                        r.counts.byte_miss_ratio()});
    }
    plot_miss_ratios(*options.plot,
                     {.title = fmt::format("miss ratios: {}", options.trace),
                      .sizes_are_objects = options.ignore_size},
                     points);
    if (!options.csv) std::cout << fmt::format("plotted {}\n", *options.plot);
  }
  return exit_ok;
}

}  // namespace

int run_replay(const replay_options& options) {
  try {
    return replay(options);
  } catch (const usage_error& e) {
    std::cerr << "larder replay: " << e.what() << "\n";
    return exit_usage;
  } catch (const trace_error& e) {
    std::cerr << "larder replay: " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "larder replay: " << e.what() << "\n";
    return exit_internal;
  }
}

void add_replay_command(CLI::App& app, int& exit_status) {
  auto options = std::make_shared<replay_options>();
  CLI::App* replay = app.add_subcommand(
      "replay",
      "Replay a cache trace through the memory tier for each eviction policy and cache size, and "
      "print the object and byte miss ratios (requests missed, bytes missed), as cache "
      "simulators do.\n"
      "Trace formats: csv, one `timestamp,key,size` a line (a header line is optional); "
      "oracle, libCacheSim's oracleGeneral binary format (24-byte records: u32 timestamp, "
      "u64 id, u32 size, i64 next access). Either may be zstd-compressed.\n"
      "Example: larder replay trace.oracleGeneral.zst --policy lru,s3fifo --size 1%,10% "
      "--plot mrc.png");
  replay->add_option("trace", options->trace, "The trace file")->required();
  replay->add_option("--format", options->format,
                     "csv or oracle (default: from the file name: .csv, .oracleGeneral or .bin, "
                     "each optionally followed by .zst)");
  replay->add_option("-p,--policy", options->policies, "Eviction policies, comma-separated, or all")
      ->delimiter(',')
      ->capture_default_str();
  replay
      ->add_option("-s,--size", options->sizes,
                   "Cache sizes, comma-separated: bytes (200MB, 1GiB, or a bare number of bytes), "
                   "or a percentage of the trace's working set (10%: the sizes of its distinct "
                   "objects, which costs a first pass over the trace)")
      ->delimiter(',')
      ->required();
  replay->add_flag("--ignore-size", options->ignore_size,
                   "Count every object as size 1: sizes are object counts (--size 4897) and "
                   "percentages are of the distinct objects");
  replay->add_flag("--count-overhead", options->count_overhead,
                   "Weigh entries as the memory tier does in production, key and per-entry "
                   "overhead included (default: value bytes only, as cache simulators count)");
  replay
      ->add_option("--shards", options->shards,
                   "Memory tier shards, rounded up to a power of two (default 1: the policy's "
                   "exact order; more shards show how sharding changes the eviction order)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}));
  replay
      ->add_option("--threads", options->threads,
                   "Threads to replay the policy and size combinations on (each reads the trace)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  replay->add_flag("--csv", options->csv,
                   "Print policy,size,requests,object_miss_ratio,byte_miss_ratio rows instead of "
                   "a table");
  replay->add_option("--plot", options->plot,
                     "Draw the miss-ratio curves into this PNG file (needs gnuplot: Debian "
                     "package gnuplot-nox)");
  replay->callback([options, &exit_status] { exit_status = run_replay(*options); });
}

}  // namespace larder::tools
