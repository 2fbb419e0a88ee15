#include "settings_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <larder/config/config_error.hpp>
#include <larder/config/duration_parser.hpp>
#include <larder/config/size_parser.hpp>

#include "ascii_text.hpp"
#include "setting_rules.hpp"

namespace larder {
namespace {

using key_list = std::span<const std::string_view>;

constexpr std::string_view top_level_keys[] = {"cache", "model_cache", "training_cache",
                                               "system_cache", "logging"};
constexpr std::string_view yaml_cache_keys[] = {
    "memory", "disk", "policy", "eviction_threshold", "resources", "metrics", "remote"};
constexpr std::string_view yaml_memory_keys[] = {"size", "type", "compression", "max_items",
                                                 "cleanup_interval"};
constexpr std::string_view yaml_disk_keys[] = {"size", "path", "cleanup_interval", "use_mmap",
                                               "reinsertion"};
constexpr std::string_view toml_cache_keys[] = {"memory_size",        "disk_size", "policy",
                                                "eviction_threshold", "memory",    "disk",
                                                "resources",          "metrics",   "remote"};
constexpr std::string_view toml_memory_keys[] = {"max_items", "cleanup_interval", "compression"};
constexpr std::string_view toml_disk_keys[] = {"path", "use_mmap", "cleanup_interval",
                                               "reinsertion"};
// The same in both forms.
constexpr std::string_view resources_keys[] = {"min_available_memory", "min_free_disk",
                                               "check_interval"};
constexpr std::string_view metrics_keys[] = {"enabled", "address", "port"};
constexpr std::string_view remote_tls_keys[] = {"enabled",  "ca_file",     "cert_file",
                                                "key_file", "server_name", "verify_peer"};
constexpr std::string_view remote_keys[] = {"enabled",
                                            "nodes",
                                            "user",
                                            "password",
                                            "key_prefix",
                                            "mode",
                                            "request_timeout",
                                            "connect_timeout",
                                            "connections_per_node",
                                            "max_value_size",
                                            "large_values",
                                            "chunk_size",
                                            "breaker_failures",
                                            "breaker_open_for",
                                            "tls"};
constexpr std::string_view model_cache_keys[] = {"size",           "format",   "compression",
                                                 "cleanup_policy", "eviction", "remote"};
constexpr std::string_view training_cache_keys[] = {"size",           "batch_buffer", "prefetch",
                                                    "cleanup_policy", "eviction",     "remote"};
constexpr std::string_view system_cache_keys[] = {"size",           "temp_dir", "max_age",
                                                  "cleanup_policy", "eviction", "remote"};
constexpr std::string_view logging_keys[] = {"level"};

constexpr std::uint32_t max_uint32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t max_uint64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t max_port = std::numeric_limits<std::uint16_t>::max();

// Redis refuses a bulk string over proto-max-bulk-len, 512 MiB unless a server raises it. 4 KiB,
// a page: below it a chunk costs more in request overhead than it carries.
constexpr std::uint64_t min_chunk_size = 4 * 1024;
constexpr std::uint64_t max_chunk_size = 512ull * 1024 * 1024;
// The remote entry format records a value's size in 32 bits.
constexpr std::uint64_t max_remote_value_size = std::numeric_limits<std::uint32_t>::max();

std::string joined(key_list keys) {
  std::string out;
  for (const std::string_view key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

// A table of the document whose keys are known to be ones its level accepts.
class settings_table {
 public:
  settings_table(const setting_node& node, std::string path, key_list keys)
      : node_(node), path_(std::move(path)) {
    const bool is_null = node.shape == node_shape::scalar && node.type == scalar_type::null;
    if (node.shape != node_shape::table && !is_null) {
      reject(path_, node.display(), {"is not a table", "use a table with keys " + joined(keys)});
    }
    for (const auto& entry : node.entries) {
      if (std::find(keys.begin(), keys.end(), entry.first) == keys.end()) {
        throw config_error(child_key_path(path_, entry.first),
                           "unknown key; accepted keys: " + joined(keys));
      }
    }
  }

  // Calls read(value, key_path) if the table holds `key`.
  template <typename Read>
  void with(std::string_view key, Read read) const {
    if (const setting_node* value = node_.find(key)) read(*value, child_key_path(path_, key));
  }

 private:
  const setting_node& node_;
  std::string path_;
};

// The scalar's text, if the document wrote a scalar of one of `types`.
std::optional<std::string_view> scalar_text(const setting_node& node,
                                            std::initializer_list<scalar_type> types) {
  if (node.shape != node_shape::scalar) return std::nullopt;
  if (std::find(types.begin(), types.end(), node.type) == types.end()) return std::nullopt;
  return trim_blanks(node.text);
}

// Sizes and durations may be written as numbers or as strings with a unit.
constexpr std::initializer_list<scalar_type> number_or_text = {
    scalar_type::untyped, scalar_type::string, scalar_type::integer, scalar_type::floating};
constexpr std::initializer_list<scalar_type> text_only = {scalar_type::untyped,
                                                          scalar_type::string};

size_spec read_size(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, number_or_text)) {
    if (const std::optional<size_spec> size = parse_size(*text)) return *size;
  }
  reject(path, node.display(), size_rule());
}

std::chrono::seconds read_duration(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, number_or_text)) {
    if (const auto duration = parse_duration(*text)) return *duration;
  }
  reject(path, node.display(), duration_rule());
}

bool read_boolean(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, {scalar_type::untyped, scalar_type::boolean})) {
    if (const std::optional<bool> value = parse_boolean(*text)) return *value;
  }
  reject(path, node.display(), boolean_rule());
}

std::uint64_t read_count(const setting_node& node, const std::string& path, std::uint64_t min,
                         std::uint64_t max, std::string_view example) {
  if (const auto text = scalar_text(node, {scalar_type::untyped, scalar_type::integer})) {
    if (const auto value = parse_whole_number(*text, min, max)) return *value;
  }
  reject(path, node.display(), whole_number_rule(min, max, example));
}

double read_eviction_threshold(const setting_node& node, const std::string& path) {
  const auto text =
      scalar_text(node, {scalar_type::untyped, scalar_type::integer, scalar_type::floating});
  if (text) {
    if (const std::optional<double> value = parse_eviction_threshold(*text)) return *value;
  }
  reject(path, node.display(), eviction_threshold_rule());
}

memory_policy read_memory_policy(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (const auto policy = parse_memory_policy(*text)) return *policy;
  }
  reject(path, node.display(), memory_policy_rule());
}

cleanup_policy read_cleanup_policy(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (const auto policy = parse_cleanup_policy(*text)) return *policy;
  }
  reject(path, node.display(), cleanup_policy_rule());
}

std::string read_model_format(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (auto format = parse_model_format(*text)) return std::move(*format);
  }
  reject(path, node.display(), model_format_rule());
}

std::string read_log_level(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (auto level = parse_log_level(*text)) return std::move(*level);
  }
  reject(path, node.display(), log_level_rule());
}

std::chrono::milliseconds read_duration_ms(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, number_or_text)) {
    if (const auto duration = parse_duration_ms(*text)) return *duration;
  }
  reject(path, node.display(), duration_ms_rule());
}

// A byte count of a value: absolute, since a percentage of memory says nothing about the size of
// one value; at most `max`, at least `min`, `range` saying so in an error.
std::uint64_t read_value_size(const setting_node& node, const std::string& path, std::uint64_t min,
                              std::uint64_t max, const setting_rule& range) {
  const size_spec size = read_size(node, path);
  if (size.is_percentage()) {
    reject(path, node.display(),
           {"is a percentage, which a value size cannot be", "use an absolute size, e.g. 1MiB"});
  }
  if (size.bytes < min || size.bytes > max) reject(path, node.display(), range);
  return size.bytes;
}

// A string as written, blanks kept; no value (YAML `user:`) is the empty string.
std::optional<std::string> plain_text(const setting_node& node) {
  if (node.shape == node_shape::scalar && node.type == scalar_type::null) return std::string{};
  if (node.shape == node_shape::scalar &&
      (node.type == scalar_type::untyped || node.type == scalar_type::string)) {
    return node.text;
  }
  return std::nullopt;
}

std::string read_user(const setting_node& node, const std::string& path) {
  if (auto text = plain_text(node)) return std::move(*text);
  reject(path, node.display(), {"is not a string", "write the user name in quotes"});
}

// Never quotes the value: a password mistyped as a number is still most of a password.
std::string read_password(const setting_node& node, const std::string& path) {
  if (auto text = plain_text(node)) return std::move(*text);
  throw config_error(path, "is not a string (value not shown); write the password in quotes");
}

std::vector<std::string> read_remote_nodes(const setting_node& node, const std::string& path) {
  if (node.shape == node_shape::scalar && node.type == scalar_type::null) {
    reject(path, node.display(), empty_node_list_rule());
  }
  if (const auto text = scalar_text(node, text_only)) return parse_remote_node_list(*text, path);
  if (node.shape != node_shape::list) reject(path, node.display(), remote_node_list_rule());
  if (node.items.empty()) reject(path, node.display(), empty_node_list_rule());
  std::vector<std::string> nodes;
  for (std::size_t i = 0; i < node.items.size(); ++i) {
    const setting_node& item = node.items[i];
    std::optional<std::string> parsed;
    if (const auto text = scalar_text(item, text_only)) parsed = parse_remote_node(*text);
    if (!parsed) reject_remote_node(indexed_key_path(path, i), item.display());
    nodes.push_back(std::move(*parsed));
  }
  return nodes;
}

// A file the cache reads at start: checked now, so a typo is a configuration error naming the
// key rather than a failed handshake later.
std::filesystem::path read_readable_file(const setting_node& node, const std::string& path,
                                         std::string_view what) {
  if (node.shape == node_shape::scalar &&
      (node.type == scalar_type::untyped || node.type == scalar_type::string) &&
      !node.text.empty()) {
    std::ifstream file(node.text);
    if (file) return node.text;
    reject(path, node.display(),
           {std::string("cannot be read (") + std::strerror(errno) + ")",
            "give the path of " + std::string(what)});
  }
  reject(path, node.display(), {"is not a file path", "give the path of " + std::string(what)});
}

std::string read_server_name(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (is_host_name_or_ip(*text)) return std::string{*text};
  }
  reject(path, node.display(),
         {"is not a host name or IP address",
          "use the name the server's certificate holds, e.g. redis.internal or 10.0.0.5"});
}

std::string read_key_prefix(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (is_key_prefix(*text)) return std::string{*text};
  }
  reject(path, node.display(), key_prefix_rule());
}

remote_use read_remote_mode(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (const auto use = parse_remote_use(*text)) {
      if (*use != remote_use::off) return *use;
      reject(path, node.display(),
             {"is not a mode: to turn the remote tier off, set cache.remote.enabled to false",
              remote_mode_rule().accepted});
    }
  }
  reject(path, node.display(), remote_mode_rule());
}

remote_use read_remote_use(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (const auto use = parse_remote_use(*text)) return *use;
  }
  reject(path, node.display(), remote_use_rule());
}

large_value_policy read_large_value_policy(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (const auto policy = parse_large_value_policy(*text)) return *policy;
  }
  reject(path, node.display(), large_value_policy_rule());
}

std::string read_ip_address(const setting_node& node, const std::string& path) {
  if (const auto text = scalar_text(node, text_only)) {
    if (auto address = parse_ip_address(*text)) return std::move(*address);
  }
  reject(path, node.display(), ip_address_rule());
}

std::filesystem::path read_directory(const setting_node& node, const std::string& path) {
  // Not trimmed: blanks at either end of a path are legal, if unwise, and kept as written.
  if (node.shape == node_shape::scalar &&
      (node.type == scalar_type::untyped || node.type == scalar_type::string) &&
      !node.text.empty()) {
    return node.text;
  }
  reject(path, node.display(), directory_rule());
}

// Reads one document into a cache_config. Percentages of memory are resolved as they are read,
// with the available memory asked at most once; the disk size and the free-disk floor wait for the
// end of the document, because a percentage of them refers to the filesystem of disk.path, which
// may come later.
class settings_reader {
 public:
  settings_reader(document_form form, const host_resources& host, cache_config& cfg)
      : form_(form), host_(host), cfg_(cfg) {}

  void read(const setting_node& document, std::string_view origin) {
    if (document.shape != node_shape::table && document.type != scalar_type::null) {
      throw config_error(std::string{origin},
                         "is not a table of settings; expected keys " + joined(top_level_keys));
    }
    const settings_table root{document, "", top_level_keys};
    root.with("cache", [&](const setting_node& node, const std::string& path) {
      if (form_ == document_form::yaml) {
        read_yaml_cache(node, path);
      } else {
        read_toml_cache(node, path);
      }
    });
    root.with("model_cache",
              [&](const auto& node, const auto& path) { read_model_cache(node, path); });
    root.with("training_cache",
              [&](const auto& node, const auto& path) { read_training_cache(node, path); });
    root.with("system_cache",
              [&](const auto& node, const auto& path) { read_system_cache(node, path); });
    root.with("logging", [&](const setting_node& node, const std::string& path) {
      settings_table{node, path, logging_keys}.with("level", [&](const auto& n, const auto& p) {
        cfg_.logging.level = read_log_level(n, p);
      });
    });
    resolve_disk_shares();
  }

 private:
  struct pending_size {
    size_spec spec;
    std::string text;
    std::string path;
  };

  void read_yaml_cache(const setting_node& node, const std::string& path) {
    const settings_table cache{node, path, yaml_cache_keys};
    std::optional<memory_policy> memory_type;
    cache.with("memory", [&](const setting_node& memory_node, const std::string& memory_path) {
      const settings_table memory{memory_node, memory_path, yaml_memory_keys};
      memory.with("size", [&](const auto& n, const auto& p) { read_memory_size(n, p); });
      memory.with("type",
                  [&](const auto& n, const auto& p) { memory_type = read_memory_policy(n, p); });
      read_memory_common(memory);
    });
    cache.with("disk", [&](const setting_node& disk_node, const std::string& disk_path) {
      const settings_table disk{disk_node, disk_path, yaml_disk_keys};
      disk.with("size", [&](const auto& n, const auto& p) { read_disk_size(n, p); });
      read_disk_common(disk);
    });
    if (memory_type) cfg_.memory.policy = *memory_type;
    cache.with("policy", [&](const setting_node& n, const std::string& p) {
      const memory_policy policy = read_memory_policy(n, p);
      if (memory_type && *memory_type != policy) {
        reject(p, n.display(),
               {"contradicts " + child_key_path(path, "memory.type") + " \"" +
                    std::string{to_string(*memory_type)} + "\"",
                "set only one of them, or both to the same policy"});
      }
      cfg_.memory.policy = policy;
    });
    cache.with("eviction_threshold", [&](const auto& n, const auto& p) {
      cfg_.eviction_threshold = read_eviction_threshold(n, p);
    });
    cache.with("resources", [&](const auto& n, const auto& p) { read_resources(n, p); });
    cache.with("metrics", [&](const auto& n, const auto& p) { read_metrics(n, p); });
    cache.with("remote", [&](const auto& n, const auto& p) { read_remote(n, p); });
  }

  void read_toml_cache(const setting_node& node, const std::string& path) {
    const settings_table cache{node, path, toml_cache_keys};
    cache.with("memory_size", [&](const auto& n, const auto& p) { read_memory_size(n, p); });
    cache.with("disk_size", [&](const auto& n, const auto& p) { read_disk_size(n, p); });
    cache.with("policy", [&](const auto& n, const auto& p) {
      cfg_.memory.policy = read_memory_policy(n, p);
    });
    cache.with("eviction_threshold", [&](const auto& n, const auto& p) {
      cfg_.eviction_threshold = read_eviction_threshold(n, p);
    });
    cache.with("memory", [&](const setting_node& n, const std::string& p) {
      read_memory_common(settings_table{n, p, toml_memory_keys});
    });
    cache.with("disk", [&](const setting_node& n, const std::string& p) {
      read_disk_common(settings_table{n, p, toml_disk_keys});
    });
    cache.with("resources", [&](const auto& n, const auto& p) { read_resources(n, p); });
    cache.with("metrics", [&](const auto& n, const auto& p) { read_metrics(n, p); });
    cache.with("remote", [&](const auto& n, const auto& p) { read_remote(n, p); });
  }

  // The memory keys both forms share; a key the form does not accept never reaches here.
  void read_memory_common(const settings_table& memory) {
    memory.with("compression", [&](const auto& n, const auto& p) {
      cfg_.memory.compression = read_boolean(n, p);
    });
    memory.with("max_items", [&](const auto& n, const auto& p) {
      cfg_.memory.max_items = read_count(n, p, 0, max_uint64, "1000, or 0 for no limit");
    });
    memory.with("cleanup_interval", [&](const auto& n, const auto& p) {
      cfg_.memory.cleanup_interval = read_duration(n, p);
    });
  }

  void read_disk_common(const settings_table& disk) {
    disk.with("path", [&](const auto& n, const auto& p) { cfg_.disk.path = read_directory(n, p); });
    disk.with("cleanup_interval", [&](const auto& n, const auto& p) {
      cfg_.disk.cleanup_interval = read_duration(n, p);
    });
    disk.with("use_mmap",
              [&](const auto& n, const auto& p) { cfg_.disk.use_mmap = read_boolean(n, p); });
    disk.with("reinsertion",
              [&](const auto& n, const auto& p) { cfg_.disk.reinsertion = read_boolean(n, p); });
  }

  void read_resources(const setting_node& node, const std::string& path) {
    const settings_table resources{node, path, resources_keys};
    resources.with("min_available_memory", [&](const auto& n, const auto& p) {
      cfg_.resources.min_available_memory_bytes = memory_share(n, p);
    });
    resources.with("min_free_disk", [&](const auto& n, const auto& p) {
      min_free_disk_ = pending_size{read_size(n, p), n.display(), p};
    });
    resources.with("check_interval", [&](const auto& n, const auto& p) {
      cfg_.resources.check_interval = read_duration(n, p);
    });
  }

  void read_metrics(const setting_node& node, const std::string& path) {
    const settings_table metrics{node, path, metrics_keys};
    metrics.with("enabled",
                 [&](const auto& n, const auto& p) { cfg_.metrics.enabled = read_boolean(n, p); });
    metrics.with("address", [&](const auto& n, const auto& p) {
      cfg_.metrics.address = read_ip_address(n, p);
    });
    metrics.with("port", [&](const auto& n, const auto& p) {
      cfg_.metrics.port =
          static_cast<std::uint16_t>(read_count(n, p, 0, max_port, "9464, or 0 for any free port"));
    });
  }

  void read_remote(const setting_node& node, const std::string& path) {
    const settings_table remote{node, path, remote_keys};
    remote_config& r = cfg_.remote;
    remote.with("enabled", [&](const auto& n, const auto& p) { r.enabled = read_boolean(n, p); });
    remote.with("nodes", [&](const auto& n, const auto& p) { r.nodes = read_remote_nodes(n, p); });
    remote.with("user", [&](const auto& n, const auto& p) { r.user = read_user(n, p); });
    remote.with("password",
                [&](const auto& n, const auto& p) { r.password = read_password(n, p); });
    remote.with("key_prefix",
                [&](const auto& n, const auto& p) { r.key_prefix = read_key_prefix(n, p); });
    remote.with("mode", [&](const auto& n, const auto& p) { r.mode = read_remote_mode(n, p); });
    remote.with("request_timeout",
                [&](const auto& n, const auto& p) { r.request_timeout = read_duration_ms(n, p); });
    remote.with("connect_timeout",
                [&](const auto& n, const auto& p) { r.connect_timeout = read_duration_ms(n, p); });
    remote.with("connections_per_node", [&](const auto& n, const auto& p) {
      r.connections_per_node = static_cast<std::uint32_t>(read_count(n, p, 1, 64, "2"));
    });
    remote.with("max_value_size", [&](const auto& n, const auto& p) {
      r.max_value_size =
          read_value_size(n, p, 1, max_remote_value_size,
                          {"is over 4GiB - 1 byte, the largest value the remote entry format "
                           "records",
                           "use e.g. 64MiB"});
    });
    remote.with("large_values", [&](const auto& n, const auto& p) {
      r.large_values = read_large_value_policy(n, p);
    });
    remote.with("chunk_size", [&](const auto& n, const auto& p) {
      r.chunk_size = read_value_size(
          n, p, min_chunk_size, max_chunk_size,
          {"is not a size from 4KiB to 512MiB (the largest Redis bulk string by default)",
           "use e.g. 1MiB"});
    });
    remote.with("breaker_failures", [&](const auto& n, const auto& p) {
      r.breaker_failures = static_cast<std::uint32_t>(read_count(n, p, 1, 1000, "5"));
    });
    remote.with("breaker_open_for",
                [&](const auto& n, const auto& p) { r.breaker_open_for = read_duration_ms(n, p); });
    remote.with("tls", [&](const auto& n, const auto& p) { read_remote_tls(n, p); });
  }

  void read_remote_tls(const setting_node& node, const std::string& path) {
    const settings_table tls{node, path, remote_tls_keys};
    remote_tls_config& t = cfg_.remote.tls;
    tls.with("enabled", [&](const auto& n, const auto& p) { t.enabled = read_boolean(n, p); });
    tls.with("ca_file", [&](const auto& n, const auto& p) {
      t.ca_file = read_readable_file(n, p, "a PEM file of the certificate authorities to trust");
    });
    tls.with("cert_file", [&](const auto& n, const auto& p) {
      t.cert_file = read_readable_file(n, p, "the client's PEM certificate");
    });
    tls.with("key_file", [&](const auto& n, const auto& p) {
      t.key_file = read_readable_file(n, p, "the client's PEM private key");
    });
    tls.with("server_name",
             [&](const auto& n, const auto& p) { t.server_name = read_server_name(n, p); });
    tls.with("verify_peer",
             [&](const auto& n, const auto& p) { t.verify_peer = read_boolean(n, p); });
    if (t.cert_file.empty() != t.key_file.empty()) {
      const std::string missing = t.cert_file.empty() ? "cert_file" : "key_file";
      throw config_error(child_key_path(path, missing),
                         "is missing: a client certificate needs both cert_file and key_file");
    }
  }

  void read_model_cache(const setting_node& node, const std::string& path) {
    const settings_table model{node, path, model_cache_keys};
    model.with("size", [&](const auto& n, const auto& p) {
      cfg_.model_cache.size_bytes = memory_share(n, p);
    });
    model.with("format", [&](const auto& n, const auto& p) {
      cfg_.model_cache.format = read_model_format(n, p);
    });
    model.with("compression", [&](const auto& n, const auto& p) {
      cfg_.model_cache.compression = read_boolean(n, p);
    });
    model.with("cleanup_policy", [&](const auto& n, const auto& p) {
      cfg_.model_cache.policy = read_cleanup_policy(n, p);
    });
    model.with("eviction", [&](const auto& n, const auto& p) {
      cfg_.model_cache.eviction = read_memory_policy(n, p);
    });
    model.with("remote", [&](const auto& n, const auto& p) {
      cfg_.model_cache.remote = read_remote_use(n, p);
    });
  }

  void read_training_cache(const setting_node& node, const std::string& path) {
    const settings_table training{node, path, training_cache_keys};
    training.with("size", [&](const auto& n, const auto& p) {
      cfg_.training_cache.size_bytes = memory_share(n, p);
    });
    training.with("batch_buffer", [&](const auto& n, const auto& p) {
      cfg_.training_cache.batch_buffer =
          static_cast<std::uint32_t>(read_count(n, p, 1, max_uint32, "32"));
    });
    training.with("prefetch", [&](const auto& n, const auto& p) {
      cfg_.training_cache.prefetch =
          static_cast<std::uint32_t>(read_count(n, p, 0, max_uint32, "4"));
    });
    training.with("cleanup_policy", [&](const auto& n, const auto& p) {
      cfg_.training_cache.policy = read_cleanup_policy(n, p);
    });
    training.with("eviction", [&](const auto& n, const auto& p) {
      cfg_.training_cache.eviction = read_memory_policy(n, p);
    });
    training.with("remote", [&](const auto& n, const auto& p) {
      cfg_.training_cache.remote = read_remote_use(n, p);
    });
  }

  void read_system_cache(const setting_node& node, const std::string& path) {
    const settings_table system{node, path, system_cache_keys};
    system.with("size", [&](const auto& n, const auto& p) {
      cfg_.system_cache.size_bytes = memory_share(n, p);
    });
    system.with("temp_dir", [&](const auto& n, const auto& p) {
      cfg_.system_cache.temp_dir = read_directory(n, p);
    });
    system.with("max_age", [&](const auto& n, const auto& p) {
      cfg_.system_cache.max_age = read_duration(n, p);
    });
    system.with("cleanup_policy", [&](const auto& n, const auto& p) {
      cfg_.system_cache.policy = read_cleanup_policy(n, p);
    });
    system.with("eviction", [&](const auto& n, const auto& p) {
      cfg_.system_cache.eviction = read_memory_policy(n, p);
    });
    system.with("remote", [&](const auto& n, const auto& p) {
      cfg_.system_cache.remote = read_remote_use(n, p);
    });
  }

  void read_memory_size(const setting_node& node, const std::string& path) {
    cfg_.memory.size_bytes = memory_share(node, path);
  }

  void read_disk_size(const setting_node& node, const std::string& path) {
    disk_size_ = pending_size{read_size(node, path), node.display(), path};
  }

  // A size whose percentage is of the memory this process can still take.
  std::uint64_t memory_share(const setting_node& node, const std::string& path) {
    return resolve_size(
        read_size(node, path), path, node.display(),
        [this] {
          if (!available_memory_) available_memory_ = host_.available_memory();
          return *available_memory_;
        },
        "the available memory");
  }

  // The sizes whose percentage is of the capacity of the filesystem holding disk.path.
  void resolve_disk_shares() {
    const std::filesystem::path& dir = cfg_.disk.path;
    std::optional<std::uint64_t> capacity;
    const auto resolve = [&](const pending_size& size) {
      return resolve_size(
          size.spec, size.path, size.text,
          [&] {
            if (!capacity) capacity = host_.filesystem_capacity(dir);
            return *capacity;
          },
          "the capacity of the filesystem holding " + dir.string());
    };
    if (disk_size_) cfg_.disk.size_bytes = resolve(*disk_size_);
    if (min_free_disk_) cfg_.resources.min_free_disk_bytes = resolve(*min_free_disk_);
  }

  document_form form_;
  const host_resources& host_;
  cache_config& cfg_;
  std::optional<std::uint64_t> available_memory_;
  std::optional<pending_size> disk_size_;
  std::optional<pending_size> min_free_disk_;
};

}  // namespace

void read_settings(const setting_node& document, document_form form, std::string_view origin,
                   const host_resources& host, cache_config& cfg) {
  settings_reader{form, host, cfg}.read(document, origin);
}

}  // namespace larder
