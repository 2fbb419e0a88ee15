#include "miss_ratio_plot.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

namespace larder::tools {
namespace {

// A gnuplot single-quoted string: nothing is special inside but the quote, written twice.
std::string gnuplot_string(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string gnuplot_script(const std::filesystem::path& png, const miss_ratio_plot& plot,
                           std::span<const miss_ratio_point> points) {
  // Policies in their order of first appearance, each with its points by size.
  std::vector<std::string> policies;
  std::map<std::string, std::vector<miss_ratio_point>> curves;
  for (const miss_ratio_point& p : points) {
    if (!curves.contains(p.policy)) policies.push_back(p.policy);
    curves[p.policy].push_back(p);
  }
  std::uint64_t smallest = UINT64_MAX;
  std::uint64_t largest = 0;
  for (auto& [policy, curve] : curves) {
    std::ranges::sort(curve, {}, &miss_ratio_point::cache_size);
    smallest = std::min(smallest, curve.front().cache_size);
    largest = std::max(largest, curve.back().cache_size);
  }

  std::string s;
  for (std::size_t i = 0; i < policies.size(); ++i) {
    s += fmt::format("$curve{} << EOD\n", i);
    for (const miss_ratio_point& p : curves[policies[i]]) {
      s += fmt::format("{} {:.6f} {:.6f}\n", p.cache_size, p.object_miss_ratio, p.byte_miss_ratio);
    }
    s += "EOD\n";
  }
  const int panels = plot.sizes_are_objects ? 1 : 2;
  // pngcairo draws smoother lines; plain png (libgd) is there when cairo is not.
  s += fmt::format(
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {{\n"
      "  set terminal pngcairo noenhanced size {0},560\n"
      "}} else {{\n"
      "  set terminal png noenhanced size {0},560\n"
      "}}\n"
      "set output {1}\n"
      "set multiplot layout 1,{2} title {3}\n"
      "set key top right\n"
      "set grid\n"
      "set yrange [0:*]\n"
      "set xlabel {4}\n",
      560 * panels + 160, gnuplot_string(png.string()), panels, gnuplot_string(plot.title),
      gnuplot_string(plot.sizes_are_objects ? "cache size (objects)" : "cache size (bytes)"));
  // Sizes an order of magnitude or more apart are read on a log scale, as miss-ratio curves are.
  if (largest >= 10 * smallest) s += "set logscale x\nset format x '%.0s%c'\n";
  const auto plot_column = [&](int column, std::string_view label) {
    s += fmt::format("set ylabel {}\nplot ", gnuplot_string(label));
    for (std::size_t i = 0; i < policies.size(); ++i) {
      s += fmt::format("{}$curve{} using 1:{} with linespoints linewidth 2 title {}",
                       i == 0 ? "" : ", ", i, column, gnuplot_string(policies[i]));
    }
    s += "\n";
  };
  plot_column(2, "object miss ratio");
  if (!plot.sizes_are_objects) plot_column(3, "byte miss ratio");
  s += "unset multiplot\n";
  return s;
}

}  // namespace

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const std::size_t colon = std::min(dirs.find(':'), dirs.size());
    const std::filesystem::path dir(dirs.substr(0, colon));
    dirs.remove_prefix(std::min(colon + 1, dirs.size()));
    if (!dir.empty() && ::access((dir / "gnuplot").c_str(), X_OK) == 0) return true;
  }
  return false;
}

void plot_miss_ratios(const std::filesystem::path& png, const miss_ratio_plot& plot,
                      std::span<const miss_ratio_point> points) {
  if (points.empty()) throw std::runtime_error("no miss ratios to plot");
  const std::string script = gnuplot_script(png, plot, points);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> gnuplot(::popen("gnuplot", "w"), &::pclose);
  if (!gnuplot) throw std::runtime_error("cannot run gnuplot");
  const bool written = std::fwrite(script.data(), 1, script.size(), gnuplot.get()) == script.size();
  const int status = ::pclose(gnuplot.release());
  if (!written || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(fmt::format("gnuplot could not draw {}", png.string()));
  }
}

}  // namespace larder::tools
