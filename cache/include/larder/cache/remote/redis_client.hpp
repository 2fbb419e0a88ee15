// redis_client: the remote tier's way to Redis, a Redis Cluster or one standalone server.
//
// Routing. Given seed nodes, connect() asks one of them for the cluster's slot map (CLUSTER
// SLOTS). A server with cluster support disabled is a standalone server: it owns every slot.
// Each request goes to the node that owns its key's hash slot (CRC16 of the key, or of its
// {hash tag}, mod 16384: key_slot.hpp). A MOVED reply sends the request to the node it names
// and schedules a refresh of the slot map; an ASK reply sends it once to the node it names,
// preceded by ASKING on the same connection. At most options.max_redirections redirections per
// request. A failed connection schedules a refresh too (a failover moves a dead master's slots).
// One refresh runs at a time, requests for more while it runs are coalesced into one after it,
// and two never start closer than reconnect_backoff_min.
//
// Connections. Each node has a small pool of redis_connections (options.connections_per_node);
// requests are spread over them and pipelined on each. A connection that broke (timeout, lost
// socket) is replaced; reconnecting to a node that failed waits an exponentially growing backoff
// (reconnect_backoff_min doubling to reconnect_backoff_max, reset by a success), during which
// requests for that node fail at once instead of waiting on a dead address.
//
// Errors. A lost, refused or timed-out node is a std::system_error naming host:port (see
// redis_connection.hpp): a request never waits longer than about request_timeout per attempt (a
// reconnect adds up to connect_timeout). Too many redirections are errc::protocol_error. Any other
// error reply of the server (CLUSTERDOWN, TRYAGAIN during a migration, WRONGTYPE) throws
// redis_error; the remote tier treats both kinds as a miss. A wrong password or ACL user fails
// connect() with errc::permission_denied and a message that never contains the password.
//
// Thread safety: every member function may be called from any thread at once. Keys and values
// passed by view must stay valid until the co_await on the request completes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include <larder/cache/blob.hpp>
#include <larder/cache/remote/redis_connection.hpp>
#include <larder/runtime/asio.hpp>

namespace larder {

struct redis_node_address {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;

  friend bool operator==(const redis_node_address&, const redis_node_address&) = default;
};

struct redis_client_options {
  // Where to start: any reachable node of the cluster, or the standalone server.
  std::vector<redis_node_address> seeds{redis_node_address{}};
  // ACL user (AUTH user password) when set; the default user (AUTH password) otherwise.
  std::optional<std::string> user;
  std::optional<std::string> password;
  // Set: every node is reached over TLS with these settings (redis_connection.hpp).
  std::optional<redis_tls> tls;
  std::chrono::milliseconds connect_timeout{500};
  // The deadline of one attempt of one request.
  std::chrono::milliseconds request_timeout{200};
  std::size_t connections_per_node = 2;
  // Also the least time between two refreshes of the slot map.
  std::chrono::milliseconds reconnect_backoff_min{50};
  std::chrono::milliseconds reconnect_backoff_max{5000};
  int max_redirections = 5;
};

// Counters, for the remote tier's metrics.
struct redis_client_stats {
  std::uint64_t requests = 0;
  std::uint64_t failed_requests = 0;  // errors and timeouts, after redirections
  std::uint64_t timeouts = 0;
  std::uint64_t moved_redirections = 0;
  std::uint64_t ask_redirections = 0;
  std::uint64_t slot_map_refreshes = 0;
  std::uint64_t connects = 0;  // connections opened, the first ones included
  std::uint64_t connect_failures = 0;
  std::size_t nodes = 0;  // nodes in the current slot map (1 when standalone)
  bool cluster = false;
};

class redis_client {
 public:
  // Connects to the first seed that answers, learns the slot map and opens the pools. Throws
  // std::system_error when no seed answers or authentication fails.
  static asio::awaitable<std::unique_ptr<redis_client>> connect(asio::any_io_executor executor,
                                                                redis_client_options options);

  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // As redis_connection's, routed by key.
  asio::awaitable<std::optional<blob>> get(std::string_view key);
  // Values of several keys that share one hash slot (give them one {hash tag}), in order.
  // Throws std::invalid_argument when they do not share one.
  asio::awaitable<std::vector<std::optional<blob>>> mget(std::span<const std::string> keys);
  asio::awaitable<void> set(std::string_view key, std::span<const std::byte> value,
                            std::chrono::milliseconds ttl = std::chrono::milliseconds(0));
  asio::awaitable<bool> del(std::string_view key);

  redis_client_stats stats() const;

  // Closes every connection; requests in flight fail with operation_canceled. Idempotent.
  void close();

 private:
  class state;
  explicit redis_client(std::shared_ptr<state> state);
  std::shared_ptr<state> state_;
};

}  // namespace larder
