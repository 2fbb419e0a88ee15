// What each kind of setting accepts: the parse of its text, and the words an error uses for it.
// Document settings and environment variables share these, so `cache.memory.size: "4XB"` and
// `CACHE_MEMORY_SIZE: "4XB"` are refused in the same terms.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
setting_rule duration_ms_rule();
setting_rule remote_node_rule();
setting_rule remote_node_list_rule();
setting_rule empty_node_list_rule();
setting_rule key_prefix_rule();
setting_rule remote_mode_rule();
setting_rule remote_use_rule();
setting_rule large_value_policy_rule();

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
// A Redis node's "host:port", blanks trimmed: the host an IPv4 literal, a bracketed IPv6 literal
// ("[::1]:6379") or a DNS name (labels of letters, digits and '-', joined by '.'; the last label
// not all digits, so that "256.0.0.1" is refused rather than looked up), the port 1 to 65535.
// The text as written, blanks trimmed.
std::optional<std::string> parse_remote_node(std::string_view text);
// A host as a TLS certificate names it: a DNS name as parse_remote_node takes it, or an IPv4 or
// IPv6 literal (without brackets).
bool is_host_name_or_ip(std::string_view text);
// Refuses a bad entry of a node list against `key_path`, quoting it unless it holds an '@': a
// URL such as redis://user:password@host:6379 pasted there must not put its password in a log.
[[noreturn]] void reject_remote_node(const std::string& key_path, std::string entry);
// The entries of "a:1, b:2" with blanks trimmed; an empty entry is kept, for the caller to refuse.
std::vector<std::string_view> split_at_commas(std::string_view text);
// The nodes of "a:1, b:2" (parse_remote_node's text of each). A bad entry is a config_error
// against `key_path`[index], text with no entry at all one against `key_path`.
std::vector<std::string> parse_remote_node_list(std::string_view text, const std::string& key_path);
// "cache.remote.nodes" + 1 -> "cache.remote.nodes[1]" (entries count from 0).
std::string indexed_key_path(std::string_view path, std::size_t index);
// 1 to 64 of letters, digits, '.', '_' and '-'; never ':', '{' or '}', which would break the key
// layout "<key_prefix>:<cache>:{<key hash>}".
bool is_key_prefix(std::string_view text) noexcept;

// The byte count `spec` stands for. A percentage takes its base from `base` (called only then)
// and names it `base_name` in errors; a base that cannot be read, or a share of it below one
// byte, is a config_error against `key_path` quoting `text`.
std::uint64_t resolve_size(const size_spec& spec, const std::string& key_path,
                           std::string_view text, const std::function<std::uint64_t()>& base,
                           std::string_view base_name);

}  // namespace larder
