// redis_connection: one connection to a standalone Redis server, the first building block of the
// remote tier (issue 9), over plain TCP or TLS (endpoint.tls).
//
// Requests are awaitables. Any number may be in flight at once: each is written to the socket as
// soon as it is issued, together with whatever else was issued meanwhile, and the server answers
// them in order (pipelining), so concurrent callers share one round trip's worth of latency
// instead of queueing behind each other.
//
// Errors are exceptions, std::system_error throughout, with a message that names host:port:
//  - connect: connection refused or unreachable, a connect timeout (errc::timed_out), a wrong
//    password or ACL user (errc::permission_denied, "authentication failed"; the password is never
//    part of a message or a log line), a TLS set-up or handshake that fails (a file that cannot be
//    loaded, errc::invalid_argument; a certificate that does not verify or a server that refuses
//    ours, errc::connection_refused, the message says what failed; key material is never part of
//    a message);
//  - a request not answered within endpoint.request_timeout fails with errc::timed_out;
//  - after a timeout or a lost connection the connection is broken for good: every request in
//    flight and every later one fails at once with the reason (reconnecting is the caller's
//    business);
//  - closing or destroying the connection fails the requests in flight with
//    errc::operation_canceled (asio::error::operation_aborted's condition).
// Cancelling the awaiting coroutine does not cut a request short: it ends by its reply or its
// deadline.
// A reply the server sends as an error (WRONGTYPE, say) throws redis_error and leaves the
// connection usable.
//
// Ownership: connect() returns the only handle. Requests in flight keep the connection's internal
// state alive, so destroying the handle with requests in flight is safe; they complete with an
// error.
//
// Thread safety: get, set, del, command, command_sequence and close may be called from any thread
// at once (all work runs on one strand of the executor). The awaitables are lazy: a request reads
// the handle, its key and its value when first awaited, so those must stay valid until then, and
// destroying the handle must not race with a request that has not started yet.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include <larder/cache/blob.hpp>
#include <larder/runtime/asio.hpp>

namespace larder {

// TLS for a connection. The server's certificate is verified by default, against ca_file, and its
// name against server_name.
struct redis_tls {
  // PEM file of the certificate authorities to trust; empty: the system's default ones.
  std::string ca_file = {};
  // PEM files of the client's certificate and private key, for a server with tls-auth-clients;
  // empty: no client certificate. Both or neither.
  std::string cert_file = {};
  std::string key_file = {};
  // The name sent as SNI (when it is a DNS name) and checked against the certificate (a DNS name
  // or an IP address); unset: the endpoint's host.
  std::optional<std::string> server_name = std::nullopt;
  // false accepts any certificate, for tests against self-signed servers; never in production.
  bool verify_peer = true;
};

struct redis_endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  // Sent with AUTH right after connecting when set: AUTH user password for an ACL user,
  // AUTH password for the default user when `user` is unset. Neither is ever logged.
  std::optional<std::string> user;
  std::optional<std::string> password;
  std::chrono::milliseconds connect_timeout{2000};
  // How long any one request may wait for its reply before the connection gives up on it.
  std::chrono::milliseconds request_timeout{1000};
  // Set: the connection speaks TLS (redis-server --tls-port); unset: plain TCP.
  std::optional<redis_tls> tls;
};

// An error reply from the server (for example WRONGTYPE); the connection stays usable.
class redis_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A reply to command(), as RESP2 types it.
struct redis_reply {
  enum class kind { nil, status, string, integer, array };
  kind type = kind::nil;
  std::string text;  // status and string replies, binary safe
  long long integer = 0;
  std::vector<redis_reply> elements;  // array replies
};

class redis_connection {
 public:
  // Connects, authenticates when endpoint.password is set (as endpoint.user when that is set), and
  // checks the server answers PING.
  static asio::awaitable<std::unique_ptr<redis_connection>> connect(asio::any_io_executor executor,
                                                                    redis_endpoint endpoint);

  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  // The value stored under `key`, or nullopt when there is none.
  asio::awaitable<std::optional<blob>> get(std::string_view key);
  // Stores `value` under `key`; with ttl > 0 it expires after ttl (SET ... PX).
  asio::awaitable<void> set(std::string_view key, std::span<const std::byte> value,
                            std::chrono::milliseconds ttl = std::chrono::milliseconds(0));
  // Removes `key`; true when it existed.
  asio::awaitable<bool> del(std::string_view key);
  // Any command, one argument per element (binary safe).
  asio::awaitable<redis_reply> command(std::vector<std::string> args);
  // Several commands written back to back, with no other request of this connection between
  // them (ASKING and the command it applies to, say); returns the last one's reply. An error
  // reply to any of them throws redis_error. REQUIRES: commands is not empty.
  asio::awaitable<redis_reply> command_sequence(std::vector<std::vector<std::string>> commands);

  // Fails the requests in flight and every later one, and closes the socket. Idempotent.
  void close();

 private:
  class state;

  explicit redis_connection(std::shared_ptr<state> state);

  std::shared_ptr<state> state_;
};

}  // namespace larder
