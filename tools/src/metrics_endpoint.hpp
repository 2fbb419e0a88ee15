// metrics_endpoint: the HTTP server of `larder serve` that Prometheus scrapes.
//
// Two resources, GET and HEAD only:
//   /metrics  200, `text/plain; version=0.0.4; charset=utf-8`, the body render_metrics() returns,
//             asked afresh on every request; 500 with a short message (and a logged warning) if
//             it throws.
//   /healthz  200 "ok\n" while health() says healthy, 503 with its detail otherwise.
// A query string is ignored; any other path is 404; another method on these paths is 405 with
// `Allow: GET, HEAD`. A request that cannot be parsed is answered 400 (a header section over
// options.header_limit 431, a body over options.body_limit 413; a version other than HTTP/1.0 or
// 1.1 is malformed too) and its connection closed. Keep-alive is honoured.
//
// The constructor binds and listens, so a port in use is an error at start-up, not a log line
// later; accepting and serving run as coroutines on the executor. A client gets
// options.request_timeout to send each request (and to wait between keep-alive requests) and to
// take each response, then it is dropped; at most options.max_connections are served at once,
// and further clients wait in the listen backlog. Nothing here blocks the executor: the
// callbacks are the only code of the caller's that runs on it, so they must not block either.
//
// Ownership: the endpoint owns its socket and connections; the callbacks are copied, and what
// they refer to must outlive stop().
//
// Thread safety: the callbacks are called on one strand of the executor, one call at a time,
// never concurrently with each other. port() and local_endpoint() may be called from any thread;
// stop() (and so the destructor) from any thread but the executor's own, since it waits for the
// endpoint's coroutines, which run there. REQUIRES: the executor is still being run when stop()
// or the destructor runs; stop the endpoint before the runtime.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "larder/runtime/asio.hpp"

namespace larder::tools {

namespace detail {
// The listening socket, the connections and the callbacks, shared with the coroutines that serve
// them (metrics_endpoint.cpp).
struct metrics_endpoint_state;
}  // namespace detail

struct health_status {
  bool healthy = true;
  // Why not, for the 503 body; one line.
  std::string detail;
};

struct metrics_endpoint_options {
  // Long enough for a scrape over a slow link (Prometheus's default scrape timeout is 10 s, and
  // a request is a few hundred bytes), short enough that idle or stalled clients do not hold
  // connection slots for long.
  std::chrono::milliseconds request_timeout{5000};
  // Prometheus sends about 300 bytes of header; 8 KiB is the limit most servers use (nginx's
  // buffer, Apache's 8190-byte line), so any real client fits and a huge header costs little.
  std::size_t header_limit = 8 * 1024;
  // These resources take no body; a small one is read and ignored so the connection stays usable.
  std::size_t body_limit = 1024;
  // A scraper or two and an operator's curl need a handful; 16 bounds sockets and buffers.
  std::size_t max_connections = 16;
};

class metrics_endpoint {
 public:
  using render_function = std::function<std::string()>;
  using health_function = std::function<health_status()>;

  // Binds `address` (an IPv4 or IPv6 literal) and `port` (0: any free port) and starts serving.
  // Throws std::system_error naming address:port if the address is not a literal or the socket
  // cannot be bound or listen (the port is in use, a privileged port, an address not of this
  // host).
  metrics_endpoint(asio::any_io_executor executor, const std::string& address, std::uint16_t port,
                   render_function render_metrics, health_function health,
                   metrics_endpoint_options options = {});
  // Calls stop().
  ~metrics_endpoint();
  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;

  // The address and port bound: the port the system picked when asked for 0.
  asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }
  std::uint16_t port() const { return local_endpoint_.port(); }

  // Closes the listening socket and every connection, and returns once no callback is running or
  // will run. Idempotent. REQUIRES: not called on the endpoint's strand (asserted).
  void stop();

 private:
  asio::ip::tcp::endpoint local_endpoint_;
  std::shared_ptr<detail::metrics_endpoint_state> state_;
};

}  // namespace larder::tools
