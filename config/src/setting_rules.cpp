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

constexpr bool is_letter_or_digit(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 1123 host names: labels of 1 to 63 letters, digits and '-', not starting or ending with
// '-'; 253 characters in all. A last label of digits only is an IPv4 literal gone wrong (RFC 3696
// section 2: top-level domains are never all-numeric).
bool is_dns_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 253) return false;
  bool last_label_all_digits = false;
  while (true) {
    const std::size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    last_label_all_digits = true;
    for (const char c : label) {
      if (!is_letter_or_digit(c) && c != '-') return false;
      if (c < '0' || c > '9') last_label_all_digits = false;
    }
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  return !last_label_all_digits;
}

bool is_ip_literal(std::string_view text, int family) {
  const std::string address{text};
  // inet_pton reads up to the first NUL, which would let "127.0.0.1\0junk" through.
  if (address.find('\0') != std::string::npos) return false;
  unsigned char bytes[16];
  return ::inet_pton(family, address.c_str(), bytes) == 1;
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

setting_rule duration_ms_rule() {
  return {"is not a duration", "use whole seconds or e.g. 100ms, 2s, 1m"};
}

setting_rule remote_node_rule() {
  return {"is not host:port with a port from 1 to 65535",
          "use e.g. 127.0.0.1:6379, redis-1.internal:6379 or [::1]:6379"};
}

setting_rule remote_node_list_rule() {
  return {"is not a list of host:port",
          R"(use e.g. ["10.0.0.1:6379", "10.0.0.2:6379"] or "10.0.0.1:6379,10.0.0.2:6379")"};
}

setting_rule empty_node_list_rule() {
  return {"names no node", "give at least one host:port, e.g. 127.0.0.1:6379"};
}

setting_rule key_prefix_rule() {
  return {"is not a key prefix", "use 1 to 64 letters, digits, '.', '_' or '-', e.g. larder"};
}

setting_rule remote_mode_rule() {
  return {"is not a remote mode", "accepted: read_write, read_only"};
}

setting_rule remote_use_rule() {
  return {"is not a remote use", "accepted: read_write, read_only, off"};
}

setting_rule large_value_policy_rule() {
  return {"is not a large-value policy", "accepted: chunk, skip"};
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
  text = trim_blanks(text);
  if (is_ip_literal(text, AF_INET) || is_ip_literal(text, AF_INET6)) return std::string{text};
  return std::nullopt;
}

bool is_host_name_or_ip(std::string_view text) {
  return is_dns_name(text) || is_ip_literal(text, AF_INET) || is_ip_literal(text, AF_INET6);
}

std::optional<std::string> parse_remote_node(std::string_view text) {
  text = trim_blanks(text);
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view host = text.substr(0, colon);
  if (!parse_whole_number(text.substr(colon + 1), 1, 65535)) return std::nullopt;
  // parse_whole_number allows blanks around the digits; "host: 6379" is not an address.
  if (text.substr(colon + 1) != trim_blanks(text.substr(colon + 1))) return std::nullopt;
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  const bool valid = bracketed ? is_ip_literal(host.substr(1, host.size() - 2), AF_INET6)
                               : is_ip_literal(host, AF_INET) || is_dns_name(host);
  if (!valid) return std::nullopt;
  return std::string{text};
}

std::vector<std::string_view> split_at_commas(std::string_view text) {
  std::vector<std::string_view> entries;
  while (true) {
    const std::size_t comma = text.find(',');
    entries.push_back(trim_blanks(text.substr(0, comma)));
    if (comma == std::string_view::npos) return entries;
    text.remove_prefix(comma + 1);
  }
}

void reject_remote_node(const std::string& key_path, std::string entry) {
  if (entry.find('@') != std::string::npos) {
    throw config_error(key_path,
                       "is not host:port (value not shown: it holds an '@', as a URL with a "
                       "password does); give host:port only, and the password as "
                       "cache.remote.password or CACHE_REMOTE_PASSWORD");
  }
  reject(key_path, std::move(entry), remote_node_rule());
}

std::vector<std::string> parse_remote_node_list(std::string_view text,
                                                const std::string& key_path) {
  if (trim_blanks(text).empty()) reject(key_path, std::string{text}, empty_node_list_rule());
  const std::vector<std::string_view> entries = split_at_commas(text);
  std::vector<std::string> nodes;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::optional<std::string> node = parse_remote_node(entries[i]);
    if (!node) reject_remote_node(indexed_key_path(key_path, i), std::string{entries[i]});
    nodes.push_back(std::move(*node));
  }
  return nodes;
}

std::string indexed_key_path(std::string_view path, std::size_t index) {
  return std::string{path} + "[" + std::to_string(index) + "]";
}

bool is_key_prefix(std::string_view text) noexcept {
  if (text.empty() || text.size() > 64) return false;
  for (const char c : text) {
    if (!is_letter_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
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
