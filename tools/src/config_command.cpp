#include "config_command.hpp"

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "exit_codes.hpp"
#include "larder/config/config_error.hpp"
#include "larder/config/config_loader.hpp"

namespace larder::tools {
namespace {

struct config_options {
  std::optional<std::string> file;
  bool print_default = false;
};

std::string megabytes(std::uint64_t bytes) {
  return fmt::format("{:.1f} MB", bytes / 1e6);
}

std::string joined_nodes(const std::vector<std::string>& nodes) {
  std::string out;
  for (const std::string& node : nodes) {
    if (!out.empty()) out += ',';
    out += node;
  }
  return out;
}

// The password is never printed, only whether there is one: this output goes to terminals, CI
// logs and bug reports.
void print_remote(const remote_config& r) {
  std::cout << fmt::format(
      "cache.remote:   enabled {}, nodes {}, user {}, password {}, key_prefix {}, mode {}\n"
      "                request_timeout {} ms, connect_timeout {} ms, connections_per_node {}, "
      "max_value_size {} B, large_values {}, chunk_size {} B, breaker after {} failures for {} "
      "ms\n",
      r.enabled, joined_nodes(r.nodes), r.user.empty() ? std::string{"(none)"} : r.user,
      r.password.empty() ? "(none)" : "(set)", r.key_prefix, to_string(r.mode),
      r.request_timeout.count(), r.connect_timeout.count(), r.connections_per_node,
      r.max_value_size, to_string(r.large_values), r.chunk_size, r.breaker_failures,
      r.breaker_open_for.count());
  const remote_tls_config& t = r.tls;
  if (!t.enabled) {
    std::cout << "cache.remote.tls: off\n";
    return;
  }
  const auto or_else = [](const std::string& value, const char* otherwise) {
    return value.empty() ? std::string(otherwise) : value;
  };
  std::cout << fmt::format(
      "cache.remote.tls: on, ca_file {}, client certificate {}, server_name {}, verify_peer {}\n",
      or_else(t.ca_file.string(), "(system CAs)"),
      t.cert_file.empty() ? "(none)" : t.cert_file.string() + " + " + t.key_file.string(),
      or_else(t.server_name, "(each node's host)"), t.verify_peer);
}

void print_settings(const cache_config& c, const std::string& origin) {
  std::cout << fmt::format(
      "configuration: {} (after CACHE_* / LARDER_LOG_LEVEL overrides)\n"
      "cache.memory:   size {}, policy {}, compression {}, max_items {}, cleanup every {} s\n"
      "cache.disk:     size {}, path {}, cleanup every {} s, use_mmap {}, reinsertion {}\n"
      "cache:          eviction_threshold {}\n"
      "cache.resources: min_available_memory {}, min_free_disk {}, check every {} s\n"
      "cache.metrics:  enabled {}, address {}, port {}\n",
      origin, megabytes(c.memory.size_bytes), to_string(c.memory.policy), c.memory.compression,
      c.memory.max_items == 0 ? std::string("unlimited") : std::to_string(c.memory.max_items),
      c.memory.cleanup_interval.count(), megabytes(c.disk.size_bytes), c.disk.path.string(),
      c.disk.cleanup_interval.count(), c.disk.use_mmap, c.disk.reinsertion, c.eviction_threshold,
      megabytes(c.resources.min_available_memory_bytes), megabytes(c.resources.min_free_disk_bytes),
      c.resources.check_interval.count(), c.metrics.enabled, c.metrics.address, c.metrics.port);
  print_remote(c.remote);
  std::cout << fmt::format(
      "model_cache:    size {}, format {}, compression {}, cleanup_policy {}, eviction {}, "
      "remote {}\n"
      "training_cache: size {}, batch_buffer {}, prefetch {}, cleanup_policy {}, eviction {}, "
      "remote {}\n"
      "system_cache:   size {}, temp_dir {}, max_age {} s, cleanup_policy {}, eviction {}, "
      "remote {}\n"
      "logging:        level {}\n",
      megabytes(c.model_cache.size_bytes), c.model_cache.format, c.model_cache.compression,
      to_string(c.model_cache.policy), to_string(c.model_cache.eviction),
      to_string(c.model_cache.remote), megabytes(c.training_cache.size_bytes),
      c.training_cache.batch_buffer, c.training_cache.prefetch, to_string(c.training_cache.policy),
      to_string(c.training_cache.eviction), to_string(c.training_cache.remote),
      megabytes(c.system_cache.size_bytes), c.system_cache.temp_dir.string(),
      c.system_cache.max_age.count(), to_string(c.system_cache.policy),
      to_string(c.system_cache.eviction), to_string(c.system_cache.remote), c.logging.level);
}

int run_config(const config_options& options) {
  if (options.print_default) {
    std::cout << default_config_yaml();
    return exit_ok;
  }
  try {
    const cache_config config = load_config(options.file);
    print_settings(config, options.file.value_or("embedded default"));
    return exit_ok;
  } catch (const config_error& e) {
    std::cerr << "larder config: " << e.what() << "\n";
    return exit_usage;
  }
}

}  // namespace

void add_config_command(CLI::App& app, int& exit_status) {
  auto options = std::make_shared<config_options>();
  CLI::App* command = app.add_subcommand(
      "config",
      "Check a configuration (YAML or TOML, plus the CACHE_* environment variables) and show the "
      "settings it resolves to; exit 2 with the reason if it is invalid.");
  command->add_option("-c,--config", options->file, "Configuration file (default: embedded)")
      ->check(CLI::ExistingFile);
  command->add_flag("--print-default", options->print_default,
                    "Print the embedded default configuration, a template to edit");
  command->callback([options, &exit_status] { exit_status = run_config(*options); });
}

}  // namespace larder::tools
