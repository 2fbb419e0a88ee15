// Miss-ratio curves as a PNG, drawn by gnuplot (Debian package gnuplot-nox): one line per policy,
// miss ratio against cache size, the object miss ratio and, for sized traces, the byte miss ratio
// side by side. The data goes to gnuplot inline, in the script, so no file is left behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace larder::tools {

struct miss_ratio_point {
  std::string policy;
  // Bytes, or objects for a replay that ignores sizes.
  std::uint64_t cache_size = 0;
  double object_miss_ratio = 0;
  double byte_miss_ratio = 0;
};

struct miss_ratio_plot {
  std::string title;
  // Sizes are object counts: the x axis says so, and only the object miss ratio is drawn (the
  // byte miss ratio is the same).
  bool sizes_are_objects = false;
};

// Whether a `gnuplot` program is on the PATH.
bool gnuplot_available();

// Writes the curves of `points` to `png`. Throws std::runtime_error when gnuplot cannot be run or
// fails (its own messages go to stderr).
void plot_miss_ratios(const std::filesystem::path& png, const miss_ratio_plot& plot,
                      std::span<const miss_ratio_point> points);

}  // namespace larder::tools
