// cache_config: every setting of a larder cache, as plain values.
//
// The seed document's settings (the `cache:` block, the model/training/system profiles, the TOML
// file form and the CACHE_* environment variables) all land here, already validated and resolved:
// sizes are bytes, durations are std::chrono values, percentages of memory have been turned into
// bytes. Code that consumes a cache_config never re-validates it.
//
// Plain value type: copy freely; distinct objects are safe to use from different threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace larder {

// Eviction policy of a memory tier (seed: `cache.memory.type`, TOML `[cache] policy`): the
// seed's lru and fifo, and the newer s3fifo (SOSP'23), sieve (NSDI'24) and wtinylfu (Caffeine's
// W-TinyLFU), which miss less than LRU on most workloads (cache/*_policy.hpp explain each).
enum class memory_policy { lru, fifo, s3fifo, sieve, wtinylfu };

// Every memory_policy, in declaration order: for listings and loops.
inline constexpr memory_policy all_memory_policies[] = {memory_policy::lru, memory_policy::fifo,
                                                        memory_policy::s3fifo, memory_policy::sieve,
                                                        memory_policy::wtinylfu};

// How a cache profile cleans up (seed: `cleanup_policy` of the profile blocks). lru and fifo evict
// by recency or insertion order; time drops entries older than max_age; size evicts once usage
// passes eviction_threshold down to a low-water mark.
enum class cleanup_policy { lru, fifo, time, size };

std::string_view to_string(memory_policy p) noexcept;
std::string_view to_string(cleanup_policy p) noexcept;

// The inverse of to_string, ignoring ASCII case ("LRU" is lru); nullopt for any other word.
std::optional<memory_policy> parse_memory_policy(std::string_view name) noexcept;
std::optional<cleanup_policy> parse_cleanup_policy(std::string_view name) noexcept;

struct memory_config {
  std::uint64_t size_bytes = 1000ull * 1000 * 1000;
  memory_policy policy = memory_policy::lru;
  bool compression = true;
  // 0 means no limit on the number of entries.
  std::uint64_t max_items = 0;
  std::chrono::seconds cleanup_interval{300};

  bool operator==(const memory_config&) const = default;
};

struct disk_config {
  std::uint64_t size_bytes = 10000ull * 1000 * 1000;
  std::filesystem::path path = "./cache";
  std::chrono::seconds cleanup_interval{3600};
  bool use_mmap = false;
  // When the budget reclaims a region, copy the entries read while it was live into the open
  // region first (bounded to a quarter region per reclaim): disk_tier_options::reinsertion.
  bool reinsertion = true;

  bool operator==(const disk_config&) const = default;
};

// The floors of the host's resources (issue 4, `cache.resources`): with less available memory
// than min_available_memory the memory tier is to shrink; with less free space than min_free_disk
// on the filesystem of disk.path the disk tier is to stop admitting. resource_manager compares;
// the figures are to be read every check_interval.
//
// The defaults are absolute, not percentages: the built-in defaults are parsed once per process
// and must not depend on the machine, and a share of the disk would be of the default disk.path's
// filesystem even after a file moves the path. 512 MiB of memory: well above kubelet's default
// eviction line (memory.available < 100Mi), so the cache gives memory back before the node evicts
// pods, with margin for what the training loop allocates in one check_interval. 1 GiB of disk:
// 32 of the disk tier's 32 MiB regions, so the regions in flight when the floor is crossed still
// fit, with room left for the job's own files. Both are judgements, not measurements.
struct resources_config {
  std::uint64_t min_available_memory_bytes = 512ull * 1024 * 1024;
  std::uint64_t min_free_disk_bytes = 1024ull * 1024 * 1024;
  std::chrono::seconds check_interval{10};

  bool operator==(const resources_config&) const = default;
};

// The Prometheus endpoint of `larder serve` (`cache.metrics`): GET /metrics and /healthz over
// HTTP. On loopback by default, so that the figures leave the host only when an operator binds a
// routable address on purpose. 9464 is the port OpenTelemetry's Prometheus exporter uses, a
// registered default of this kind of endpoint; 0 lets the system pick a free port, which serve
// logs.
struct metrics_config {
  bool enabled = true;
  // An IPv4 or IPv6 literal (not a host name: resolving one would make start-up depend on DNS);
  // 0.0.0.0 or :: for every interface.
  std::string address = "127.0.0.1";
  std::uint16_t port = 9464;

  bool operator==(const metrics_config&) const = default;
};

// How a cache uses the shared remote tier (a profile's `remote:`, `cache.remote.mode`).
// read_write: a local miss asks the remote tier, and what the cache loads or is given is
// published to it; read_only: it asks but never publishes (a consumer of what others prepared);
// off: it never asks.
enum class remote_use { read_write, read_only, off };

std::string_view to_string(remote_use u) noexcept;
std::optional<remote_use> parse_remote_use(std::string_view name) noexcept;

// What the remote tier does with a value whose encoding is over chunk_size: store it in chunks of
// chunk_size (chunk), or leave it out of the remote tier (skip). A value over max_value_size is
// never stored there.
enum class large_value_policy { chunk, skip };

std::string_view to_string(large_value_policy p) noexcept;
std::optional<large_value_policy> parse_large_value_policy(std::string_view name) noexcept;

// TLS to the Redis nodes (`cache.remote.tls`): redis-server's --tls-port. The server's
// certificate is verified against ca_file (the system's CAs when empty) and its name against
// server_name (each node's host when empty).
struct remote_tls_config {
  bool enabled = false;
  std::filesystem::path ca_file;
  // The client's certificate and key, for a server with tls-auth-clients; both or neither.
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::string server_name;
  // false accepts any certificate: for a test server with a self-signed one, never in production.
  bool verify_peer = true;

  bool operator==(const remote_tls_config&) const = default;
};

// The shared remote tier on Redis (issue 9, `cache.remote`): a Redis Cluster, or one standalone
// server, after the disk tier: memory -> disk -> remote -> loader.
struct remote_config {
  bool enabled = false;
  // "host:port" of seed nodes: any reachable node of a cluster, or the standalone server. A host
  // is an IP literal or a name.
  std::vector<std::string> nodes{"127.0.0.1:6379"};
  // ACL user and password (AUTH); empty: none. Never logged. CACHE_REMOTE_PASSWORD overrides
  // the password, so it need not be written in a file.
  std::string user;
  std::string password;
  // First part of every Redis key larder writes: "<key_prefix>:<cache>:{<key hash>}". Letters,
  // digits and . _ - only, so it can never open a hash tag.
  std::string key_prefix = "larder";
  // How a cache opened alone (cache_manager::open) uses the tier; cache_set's profiles say so
  // with their own `remote:`.
  remote_use mode = remote_use::read_write;
  // 100 ms: a Redis GET on a LAN answers in well under a millisecond, and a 1 MiB chunk list
  // streams at 10 Gb/s in about a millisecond per chunk; a request still waiting after 100 ms
  // is on a server in trouble, and a local miss should then go to the loader rather than wait.
  std::chrono::milliseconds request_timeout{100};
  std::chrono::milliseconds connect_timeout{1000};
  std::uint32_t connections_per_node = 2;
  std::uint64_t max_value_size = 64ull * 1024 * 1024;
  large_value_policy large_values = large_value_policy::chunk;
  // 1 MiB: large enough that per-request overhead is small, small enough that one value does not
  // hold a Redis server (single-threaded) for long.
  std::uint64_t chunk_size = 1024ull * 1024;
  // Consecutive failures that open the circuit breaker, and how long it stays open.
  std::uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open_for{5000};
  remote_tls_config tls;

  bool operator==(const remote_config&) const = default;
};

struct model_cache_profile {
  std::uint64_t size_bytes = 1024ull * 1000 * 1000;
  std::string format = "safetensors";
  bool compression = true;
  cleanup_policy policy = cleanup_policy::lru;
  // The order in which its memory tier evicts (`eviction:`). The defaults of the three profiles
  // come from the miss ratios in bench/RESULTS.md; the README says why each.
  memory_policy eviction = memory_policy::s3fifo;

  // Whether and how it uses the remote tier (`remote:`), when cache.remote is enabled.
  remote_use remote = remote_use::read_write;

  bool operator==(const model_cache_profile&) const = default;
};

struct training_cache_profile {
  std::uint64_t size_bytes = 512ull * 1000 * 1000;
  std::uint32_t batch_buffer = 32;
  std::uint32_t prefetch = 4;
  cleanup_policy policy = cleanup_policy::fifo;
  memory_policy eviction = memory_policy::sieve;

  // Whether and how it uses the remote tier (`remote:`), when cache.remote is enabled.
  remote_use remote = remote_use::read_write;

  bool operator==(const training_cache_profile&) const = default;
};

struct system_cache_profile {
  std::uint64_t size_bytes = 256ull * 1000 * 1000;
  std::filesystem::path temp_dir = ".cache/temp";
  std::chrono::seconds max_age{86400};
  cleanup_policy policy = cleanup_policy::time;
  memory_policy eviction = memory_policy::s3fifo;

  // Whether and how it uses the remote tier (`remote:`), when cache.remote is enabled.
  remote_use remote = remote_use::off;

  bool operator==(const system_cache_profile&) const = default;
};

struct logging_config {
  // One of trace, debug, info, warn, error, critical, off.
  std::string level = "info";

  bool operator==(const logging_config&) const = default;
};

struct cache_config {
  memory_config memory;
  disk_config disk;
  // Once usage crosses eviction_threshold x budget, a tier evicts until it is below that mark.
  // In (0, 1].
  double eviction_threshold = 0.9;
  resources_config resources;
  metrics_config metrics;
  remote_config remote;
  model_cache_profile model_cache;
  training_cache_profile training_cache;
  system_cache_profile system_cache;
  logging_config logging;

  bool operator==(const cache_config&) const = default;
};

}  // namespace larder
