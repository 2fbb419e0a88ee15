#include <optional>
#include <string>

#include <larder/config/config_loader.hpp>
#include <larder/config/size_parser.hpp>

#include "ascii_text.hpp"
#include "setting_rules.hpp"

namespace larder {
namespace {

constexpr const char* memory_size_variable = "CACHE_MEMORY_SIZE";
constexpr const char* disk_size_variable = "CACHE_DISK_SIZE";
constexpr const char* policy_variable = "CACHE_POLICY";
constexpr const char* log_level_variable = "LARDER_LOG_LEVEL";
// So that a password need not be written in a file (a Kubernetes Secret as an environment
// variable, say); never quoted in an error, since any text is a valid password.
constexpr const char* remote_password_variable = "CACHE_REMOTE_PASSWORD";
// The seed nodes as "host:port,host:port": where a deployment learns its Redis addresses.
constexpr const char* remote_nodes_variable = "CACHE_REMOTE_NODES";

// The variable's value; nullopt when unset or empty, since `CACHE_POLICY=` in a compose file or
// a shell script is the usual way to say "no override".
std::optional<std::string> variable(const getenv_function& getenv_fn, const char* name) {
  const char* value = getenv_fn(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string{value};
}

size_spec size_variable(const char* name, const std::string& value) {
  if (const std::optional<size_spec> size = parse_size(value)) return *size;
  reject(name, value, size_rule());
}

}  // namespace

void apply_environment(cache_config& cfg, const getenv_function& getenv_fn,
                       const host_resources& host) {
  cache_config updated = cfg;

  if (const auto value = variable(getenv_fn, memory_size_variable)) {
    updated.memory.size_bytes =
        resolve_size(size_variable(memory_size_variable, *value), memory_size_variable, *value,
                     host.available_memory, "the available memory");
  }

  if (const auto value = variable(getenv_fn, disk_size_variable)) {
    const std::filesystem::path& dir = updated.disk.path;
    updated.disk.size_bytes = resolve_size(
        size_variable(disk_size_variable, *value), disk_size_variable, *value,
        [&] { return host.filesystem_capacity(dir); },
        "the capacity of the filesystem holding " + dir.string());
  }

  if (const auto value = variable(getenv_fn, policy_variable)) {
    const std::optional<memory_policy> policy = parse_memory_policy(trim_blanks(*value));
    if (!policy) reject(policy_variable, *value, memory_policy_rule());
    updated.memory.policy = *policy;
  }

  if (const auto value = variable(getenv_fn, log_level_variable)) {
    std::optional<std::string> level = parse_log_level(*value);
    if (!level) reject(log_level_variable, *value, log_level_rule());
    updated.logging.level = std::move(*level);
  }

  if (const auto value = variable(getenv_fn, remote_nodes_variable)) {
    updated.remote.nodes = parse_remote_node_list(*value, remote_nodes_variable);
  }

  if (auto value = variable(getenv_fn, remote_password_variable)) {
    updated.remote.password = std::move(*value);
  }

  cfg = std::move(updated);
}

}  // namespace larder
