#include "progress_bar.hpp"

#include <cstdio>
#include <unistd.h>

#include <fmt/format.h>

namespace larder::tools {

progress_bar::progress_bar(std::string label, std::size_t total)
    : label_(std::move(label)),
      total_(total),
      enabled_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

void progress_bar::update(std::size_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int width = 30;
  const double fraction = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const int filled = static_cast<int>(fraction * width);
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = fraction > 0 ? elapsed / fraction - elapsed : 0.0;
  std::string bar(static_cast<std::size_t>(filled), '=');
  bar.resize(width, ' ');
  std::fprintf(stderr, "\r%s [%s] %3.0f%%  %zu/%zu  ETA %.1fs ", label_.c_str(), bar.c_str(),
               fraction * 100, done, total_, eta);
  std::fflush(stderr);
}

void progress_bar::print_above(std::string_view line) {
  if (enabled_) {
    std::fprintf(stderr, "\r\033[K");
    last_draw_ = {};
  }
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  std::fflush(stderr);
}

void progress_bar::finish() {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace larder::tools
