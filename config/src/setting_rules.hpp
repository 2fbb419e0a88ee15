// What each kind of setting accepts: the parse of its text, and the words an error uses for it.
// Document settings and environment variables share these, so `cache.memory.size: "4XB"` and
// `CACHE_MEMORY_SIZE: "4XB"` are refused in the same terms.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <larder/config/size_parser.hpp>

namespace larder {

// Worded for config_error: `<key path>: "<value>" <problem>; <accepted>`.
struct setting_rule {
  std::string problem;
  std::string accepted;
};

[[noreturn]] void reject(const std::string& key_path, std::string value, const setting_rule& rule);

setting_rule size_rule();
setting_rule duration_rule();
setting_rule boolean_rule();
// `example` shows a typical value in the message.
setting_rule whole_number_rule(std::uint64_t min, std::uint64_t max, std::string_view example);
setting_rule eviction_threshold_rule();
setting_rule memory_policy_rule();
setting_rule cleanup_policy_rule();
setting_rule model_format_rule();
setting_rule log_level_rule();
setting_rule directory_rule();
setting_rule ip_address_rule();

// true/false, yes/no, on/off, ignoring case, as YAML 1.1 reads booleans.
std::optional<bool> parse_boolean(std::string_view text) noexcept;
// Digits only: no sign, no fraction; nullopt outside [min, max].
std::optional<std::uint64_t> parse_whole_number(std::string_view text, std::uint64_t min,
                                                std::uint64_t max) noexcept;
// A number in (0, 1].
std::optional<double> parse_eviction_threshold(std::string_view text) noexcept;
// The level's canonical lowercase name.
std::optional<std::string> parse_log_level(std::string_view text);
std::optional<std::string> parse_model_format(std::string_view text);
// An IPv4 literal in dotted-decimal form or an IPv6 literal, as inet_pton reads them (no host
// names, brackets or zone ids); the text as written, blanks trimmed.
std::optional<std::string> parse_ip_address(std::string_view text);

// The byte count `spec` stands for. A percentage takes its base from `base` (called only then)
// and names it `base_name` in errors; a base that cannot be read, or a share of it below one
// byte, is a config_error against `key_path` quoting `text`.
std::uint64_t resolve_size(const size_spec& spec, const std::string& key_path,
                           std::string_view text, const std::function<std::uint64_t()>& base,
                           std::string_view base_name);

}  // namespace larder
