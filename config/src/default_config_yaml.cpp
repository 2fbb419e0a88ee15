#include <larder/config/config_loader.hpp>

namespace larder {
namespace {

// The seed document's settings, with the keys it leaves unset at their documented defaults. It is
// parsed like any user file, so it can only ever hold settings a user could write.
constexpr std::string_view default_yaml =
    R"(# larder configuration (built-in defaults: the seed document's values).
# Sizes: a bare number is megabytes; or e.g. 512MB, 4GiB, 1.5G, 30% (of available memory; for
# cache.disk.size and cache.resources.min_free_disk, of the filesystem holding cache.disk.path).
# Durations: whole seconds, or e.g. 90s, 5m, 1h, 1d (and 100ms for the remote tier). The
# CACHE_MEMORY_SIZE, CACHE_DISK_SIZE, CACHE_POLICY, CACHE_REMOTE_NODES and CACHE_REMOTE_PASSWORD
# environment variables override this file.
cache:
  memory:
    size: 1000              # MB
    type: lru               # lru or fifo (also settable as cache.policy)
    compression: true
    max_items: 0            # 0: no limit
    cleanup_interval: 300   # seconds
  disk:
    size: 10000             # MB
    path: ./cache
    cleanup_interval: 3600  # seconds
    use_mmap: false
    reinsertion: true       # keep entries read while their region lived when it is reclaimed
  eviction_threshold: 0.9   # evict once usage passes this share of the budget
  resources:                # floors of the host's resources
    min_available_memory: 512MiB  # less available: the memory tier shrinks
    min_free_disk: 1GiB     # less free at disk.path: the disk tier stops admitting
    check_interval: 10      # seconds between checks
  metrics:                  # the Prometheus endpoint of larder serve (/metrics, /healthz)
    enabled: true
    address: 127.0.0.1      # an IPv4 or IPv6 literal; 0.0.0.0 or :: for every interface
    port: 9464              # 0: any free port (serve logs the one it got)
  remote:                   # shared tier on Redis (Cluster or one server)
    enabled: false
    nodes: ["127.0.0.1:6379"]  # seed nodes, host:port; or one string "a:6379,b:6379"
    # user: larder          # ACL user and password (AUTH); none by default. Prefer the
    # password: ...         # CACHE_REMOTE_PASSWORD variable to writing the password here
    key_prefix: larder      # first part of every Redis key: letters, digits, . _ -
    mode: read_write        # read_write or read_only, for a cache opened alone
    request_timeout: 100ms  # past it, a request counts as a miss
    connect_timeout: 1s
    connections_per_node: 2
    max_value_size: 64MiB   # larger values are never published
    large_values: chunk     # values over chunk_size: chunk or skip
    chunk_size: 1MiB
    breaker_failures: 5     # consecutive failures that stop asking Redis...
    breaker_open_for: 5s    # ...for this long
    tls:                    # redis-server --tls-port
      enabled: false
      # ca_file: ca.crt     # PEM CAs to trust (default: the system's)
      # cert_file: client.crt  # client certificate and key, for tls-auth-clients
      # key_file: client.key
      # server_name: redis.internal  # checked against the certificate (default: each node's host)
      verify_peer: true

model_cache:
  size: 1024                # MB
  format: safetensors
  compression: true
  cleanup_policy: lru       # lru, fifo, time or size
  eviction: s3fifo          # memory order: lru, fifo, s3fifo, sieve or wtinylfu
  remote: read_write        # with cache.remote enabled: read_write, read_only or off

training_cache:
  size: 512                 # MB
  batch_buffer: 32
  prefetch: 4
  cleanup_policy: fifo
  eviction: sieve
  remote: read_write

system_cache:
  size: 256                 # MB
  temp_dir: .cache/temp
  max_age: 86400            # seconds
  cleanup_policy: time
  eviction: s3fifo
  remote: off

logging:
  level: info               # trace, debug, info, warn, error, critical or off
)";

}  // namespace

std::string_view default_config_yaml() noexcept {
  return default_yaml;
}

}  // namespace larder
