// remote_tier: the shared tier after the disk tier, on a Redis Cluster or one Redis server, so
// that the nodes of a training job share what any of them loaded (issue 9).
//
// 1. Place in the data path: memory -> disk -> remote -> loader (cache_manager). A local miss
//    asks get(); a hit is promoted into the local tiers by the cache. What the cache loads or is
//    given is handed to publish() when the cache uses the tier read_write.
// 2. Values are disk-tier entries with their checksum and full key (remote/remote_value.hpp in
//    the sources): a corrupt value, one of another program, or of another key under a colliding
//    hash is detected, counted, logged and answered as a miss. Keys are
//    "<key_prefix>:<cache_name>:{<key hash>}". A TTL becomes the Redis key's expiry (and the
//    entry's own, checked on read).
// 3. Large values: an encoded value over chunk_size is stored in chunks (large_values: chunk) or
//    not at all (skip); one over max_value_size is never stored.
// 4. Never in the training loop's way. get() never throws and never waits longer than the
//    client's request deadline per attempt: a timeout, an error, or a refusal by the circuit
//    breaker (remote/circuit_breaker.hpp) is a miss. publish() returns at once: the write runs
//    in the background, at most max_publishes_in_flight at a time (more are dropped, counted).
//    When no node answers at open(), the tier starts disconnected and keeps reconnecting in the
//    background with backoff; it answers misses meanwhile.
//
// Errors: open() throws std::system_error (errc::permission_denied) when the server refuses the
// credentials: a configuration error, reported at once rather than as a silent miss forever.
//
// Ownership and threads: open() returns the only handle; background work holds the internal
// state it needs, so destroying the handle while publishes run is safe (they fail or finish).
// close() stops reconnecting and waits for publishes in flight. Every member may be called from
// any thread at once; a key passed by view must stay valid until the co_await on it completes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include <larder/cache/blob.hpp>
#include <larder/cache/remote/redis_client.hpp>
#include <larder/cache/remote/remote_tier_stats.hpp>
#include <larder/config/cache_config.hpp>
#include <larder/runtime/asio.hpp>

namespace larder {

struct remote_tier_options {
  redis_client_options client;
  std::string key_prefix = "larder";
  std::string cache_name = "cache";
  // read_only: publish() does nothing.
  remote_use use = remote_use::read_write;
  bool compression = true;
  std::uint64_t chunk_size = 1024ull * 1024;
  large_value_policy large_values = large_value_policy::chunk;
  std::uint64_t max_value_size = 64ull * 1024 * 1024;
  std::uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open_for{5000};
  std::size_t max_publishes_in_flight = 64;

  // cache.remote of `config` for the cache `cache_name` using the tier as `use`; compression as
  // memory.compression says.
  static remote_tier_options from_config(const cache_config& config, std::string cache_name,
                                         remote_use use);
};

class remote_tier {
 public:
  static asio::awaitable<std::unique_ptr<remote_tier>> open(asio::any_io_executor executor,
                                                            remote_tier_options options);
  ~remote_tier();
  remote_tier(const remote_tier&) = delete;
  remote_tier& operator=(const remote_tier&) = delete;

  struct found {
    blob value;
    // Left of the entry's time to live; zero when it has none.
    std::chrono::nanoseconds ttl{0};
  };
  // The value stored for key, or nullopt (design note 4: never throws).
  asio::awaitable<std::optional<found>> get(std::string_view key);

  // Stores value under key in the background (design note 4); ttl zero: no expiry.
  void publish(std::string_view key, blob value, std::chrono::nanoseconds ttl);

  // Removes key; false when it was absent or the tier could not be asked.
  asio::awaitable<bool> erase(std::string_view key);

  // Stops reconnecting, waits for publishes in flight, closes the connections. Idempotent.
  asio::awaitable<void> close();

  remote_use use() const noexcept;
  remote_tier_stats stats() const;

 private:
  class state;
  explicit remote_tier(std::shared_ptr<state> state);

  std::shared_ptr<state> state_;
};

}  // namespace larder
