// Building a cache_config from the seed's sources: the built-in defaults, a YAML or TOML file,
// and the CACHE_* environment variables, in that order of precedence (later wins).
//
// Every parse starts from the defaults, and the keys a document holds override them. Documents
// are strict: an unknown key, a value of the wrong kind or out of range, or a syntax error throws
// config_error naming the key path, the bad value and what is accepted. Nothing is silently
// ignored or clamped. The two file forms are the seed's:
//   YAML  cache.memory.{size, type, compression, max_items, cleanup_interval},
//         cache.disk.{size, path, cleanup_interval, use_mmap}, cache.policy (same as
//         cache.memory.type), cache.eviction_threshold;
//   TOML  [cache] memory_size, disk_size, policy, eviction_threshold;
//         [cache.memory] max_items, cleanup_interval, compression;
//         [cache.disk] path, use_mmap, cleanup_interval;
// and in both, cache.resources.{min_available_memory, min_free_disk, check_interval},
// cache.metrics.{enabled, address, port},
// cache.remote.{enabled, nodes, user, password, key_prefix, mode, request_timeout,
// connect_timeout, connections_per_node, max_value_size, large_values, chunk_size,
// breaker_failures, breaker_open_for},
// model_cache.{size, format, compression, cleanup_policy, eviction, remote},
// training_cache.{size, batch_buffer, prefetch, cleanup_policy, eviction, remote},
// system_cache.{size, temp_dir, max_age, cleanup_policy, eviction, remote} and logging.level.
// An error never quotes cache.remote.password, nor a table that holds it.
// Sizes and durations follow size_parser.hpp and duration_parser.hpp (the remote tier's timeouts
// parse_duration_ms, its value sizes absolute only); percentages are resolved
// through host_resources while parsing, so the result holds bytes only: of the available memory,
// or for the disk size and min_free_disk of the capacity of the filesystem at disk.path.
//
// The parse functions read no files besides, when a percentage asks, the memory and filesystem
// figures. validate_config is where the configuration meets the filesystem.
//
// All functions are safe to call from several threads at once, except that apply_environment
// with the default ::getenv must not race with setenv.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

#include <larder/config/cache_config.hpp>
#include <larder/config/host_resources.hpp>

namespace larder {

// The built-in configuration document (the seed's values), for `larder` to print as a template.
std::string_view default_config_yaml() noexcept;

// default_config_yaml() parsed by parse_yaml_config's own reader.
cache_config default_config();

// `origin` names the document in syntax errors (usually its file name).
cache_config parse_yaml_config(std::string_view text, std::string_view origin = "<yaml>",
                               const host_resources& host = {});
cache_config parse_toml_config(std::string_view text, std::string_view origin = "<toml>",
                               const host_resources& host = {});

// Parses by extension: .yaml or .yml, or .toml (case ignored); any other extension, or a file
// that cannot be read, is a config_error naming the file.
cache_config load_config_file(const std::filesystem::path& file, const host_resources& host = {});

using getenv_function = std::function<const char*(const char*)>;

// Overrides from the environment: CACHE_MEMORY_SIZE (memory.size_bytes), CACHE_DISK_SIZE
// (disk.size_bytes, a percentage is of the filesystem at cfg.disk.path), CACHE_POLICY
// (memory.policy), LARDER_LOG_LEVEL (logging.level), CACHE_REMOTE_NODES (remote.nodes,
// "host:port,host:port"; an error names the entry as CACHE_REMOTE_NODES[i]) and
// CACHE_REMOTE_PASSWORD (remote.password, any text). A variable that is unset or empty changes
// nothing. Errors name the variable as the key path. On error `cfg` is unchanged.
void apply_environment(cache_config& cfg, const getenv_function& getenv_fn = ::getenv,
                       const host_resources& host = {});

// Checks what parsing cannot: that disk.path and system_cache.temp_dir are directories this
// process can write to, or could create (their nearest existing ancestor is a writable
// directory). Creates nothing.
void validate_config(const cache_config& cfg);

// The whole chain: default_config() or load_config_file(*file), then apply_environment, then
// validate_config.
cache_config load_config(const std::optional<std::filesystem::path>& file,
                         const getenv_function& getenv_fn = ::getenv,
                         const host_resources& host = {});

}  // namespace larder
