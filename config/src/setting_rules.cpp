#include "setting_rules.hpp"

#include <arpa/inet.h>
#include <array>
#include <charconv>
#include <exception>

#include <larder/config/config_error.hpp>

#include "ascii_text.hpp"
#include "decimal_number.hpp"

namespace larder {
namespace {

constexpr std::array<std::string_view, 7> log_levels{"trace", "debug",    "info", "warn",
                                                     "error", "critical", "off"};
constexpr std::array<std::string_view, 1> model_formats{"safetensors"};

template <std::size_t N>
std::optional<std::string> canonical_word(std::string_view text,
                                          const std::array<std::string_view, N>& words) {
  text = trim_blanks(text);
  for (const std::string_view word : words) {
    if (equals_ignoring_case(text, word)) return std::string{word};
  }
  return std::nullopt;
}

template <std::size_t N>
std::string listed(const std::array<std::string_view, N>& words) {
  std::string out = "accepted: ";
  const char* separator = "";
  for (const std::string_view word : words) {
    out += separator;
    out += word;
    separator = ", ";
  }
  return out;
}

}  // namespace

void reject(const std::string& key_path, std::string value, const setting_rule& rule) {
  throw config_error(key_path, std::move(value), rule.problem, rule.accepted);
}

setting_rule size_rule() {
  return {"is not a size", "use e.g. 512MB, 4GiB or 30%"};
}

setting_rule duration_rule() {
  return {"is not a duration", "use whole seconds or e.g. 90s, 5m, 1h, 1d"};
}

setting_rule boolean_rule() {
  return {"is not a boolean", "use true or false"};
}

setting_rule whole_number_rule(std::uint64_t min, std::uint64_t max, std::string_view example) {
  return {"is not a whole number from " + std::to_string(min) + " to " + std::to_string(max),
          "use e.g. " + std::string{example}};
}

setting_rule eviction_threshold_rule() {
  return {"is not a number greater than 0 and at most 1", "use e.g. 0.9"};
}

setting_rule memory_policy_rule() {
  return {"is not a memory policy", "accepted: lru, fifo, s3fifo, sieve, wtinylfu"};
}

setting_rule cleanup_policy_rule() {
  return {"is not a cleanup policy", "accepted: lru, fifo, time, size"};
}

setting_rule model_format_rule() {
  return {"is not a supported model format", listed(model_formats)};
}

setting_rule log_level_rule() {
  return {"is not a log level", listed(log_levels)};
}

setting_rule directory_rule() {
  return {"is not a directory path", "use e.g. ./cache"};
}

setting_rule ip_address_rule() {
  return {"is not an IPv4 or IPv6 address",
          "use a literal such as 127.0.0.1, 0.0.0.0, ::1 or ::, not a host name"};
}

std::optional<bool> parse_boolean(std::string_view text) noexcept {
  text = trim_blanks(text);
  for (const std::string_view yes : {"true", "yes", "on"}) {
    if (equals_ignoring_case(text, yes)) return true;
  }
  for (const std::string_view no : {"false", "no", "off"}) {
    if (equals_ignoring_case(text, no)) return false;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_whole_number(std::string_view text, std::uint64_t min,
                                                std::uint64_t max) noexcept {
  text = trim_blanks(text);
  const std::optional<std::uint64_t> value = read_whole_number(text);
  if (!value || !text.empty() || *value < min || *value > max) return std::nullopt;
  return value;
}

std::optional<double> parse_eviction_threshold(std::string_view text) noexcept {
  text = trim_blanks(text);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  // Written so that NaN fails too.
  if (!(value > 0.0 && value <= 1.0)) return std::nullopt;
  return value;
}

std::optional<std::string> parse_log_level(std::string_view text) {
  return canonical_word(text, log_levels);
}

std::optional<std::string> parse_model_format(std::string_view text) {
  return canonical_word(text, model_formats);
}

std::optional<std::string> parse_ip_address(std::string_view text) {
  const std::string address{trim_blanks(text)};
  // inet_pton reads up to the first NUL, which would let "127.0.0.1\0junk" through.
  if (address.find('\0') != std::string::npos) return std::nullopt;
  unsigned char bytes[16];
  if (::inet_pton(AF_INET, address.c_str(), bytes) == 1 ||
      ::inet_pton(AF_INET6, address.c_str(), bytes) == 1) {
    return address;
  }
  return std::nullopt;
}

std::uint64_t resolve_size(const size_spec& spec, const std::string& key_path,
                           std::string_view text, const std::function<std::uint64_t()>& base,
                           std::string_view base_name) {
  if (!spec.is_percentage()) return spec.bytes;
  std::uint64_t base_bytes = 0;
  try {
    base_bytes = base();
  } catch (const std::exception& e) {
    reject(key_path, std::string{text},
           {"cannot be resolved: " + std::string{e.what()}, "use an absolute size such as 4GB"});
  }
  const std::uint64_t bytes = spec.resolve(base_bytes);
  if (bytes == 0) {
    reject(key_path, std::string{text},
           {"is less than one byte of " + std::string{base_name}, size_rule().accepted});
  }
  return bytes;
}

}  // namespace larder
