#include <algorithm>
#include <cassert>
#include <cmath>

#include <larder/cache/replay/synthetic_trace.hpp>

namespace larder {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): a fixed, portable mixer, for the generator's stream and
// for each object's size.
std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1), from the top 53 bits.
double unit_interval(std::uint64_t bits) noexcept {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace

synthetic_trace::synthetic_trace(const synthetic_trace_options& options)
    : options_(options), random_state_(splitmix64(options.seed)), next_scan_id_(options.objects) {
  assert(options.objects > 0 && options.alpha >= 0);
  assert(options.min_size > 0 && options.min_size <= options.max_size);
  cumulative_.resize(options.objects);
  double sum = 0;
  for (std::uint64_t r = 0; r < options.objects; ++r) {
    sum += std::pow(static_cast<double>(r + 1), -options.alpha);
    cumulative_[r] = sum;
  }
  for (double& c : cumulative_)
    c /= sum;
}

std::uint64_t synthetic_trace::next_random() noexcept {
  random_state_ = splitmix64(random_state_);
  return random_state_;
}

std::uint64_t synthetic_trace::draw_zipf_id() noexcept {
  const double u = unit_interval(next_random());
  const auto at = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
  // Rounding may leave the last cumulative value a hair under 1.
  return std::min<std::uint64_t>(at - cumulative_.begin(), options_.objects - 1);
}

std::uint32_t synthetic_trace::size_of(std::uint64_t id) const noexcept {
  if (options_.min_size == options_.max_size) return options_.min_size;
  const double low = std::log(static_cast<double>(options_.min_size));
  const double high = std::log(static_cast<double>(options_.max_size) + 1);
  const double u = unit_interval(splitmix64(id ^ splitmix64(options_.seed + 1)));
  const auto size = static_cast<std::uint64_t>(std::exp(low + u * (high - low)));
  return static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(size, options_.min_size, options_.max_size));
}

std::optional<trace_request> synthetic_trace::next() {
  if (emitted_ == options_.requests) return std::nullopt;
  ++emitted_;
  std::uint64_t id = 0;
  if (scan_left_ > 0) {
    --scan_left_;
    id = next_scan_id_++;
  } else {
    id = draw_zipf_id();
    if (options_.scan_interval > 0 && ++zipf_since_scan_ == options_.scan_interval) {
      zipf_since_scan_ = 0;
      scan_left_ = options_.scan_length;
    }
  }
  for (std::size_t i = 0; i < key_.size(); ++i)
    key_[i] = static_cast<char>(id >> (8 * i));
  return trace_request{.key = std::string_view(key_.data(), key_.size()), .size = size_of(id)};
}

}  // namespace larder
