#include "metrics_endpoint.hpp"

#include <array>
#include <cassert>
#include <condition_variable>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "larder/runtime/log.hpp"

namespace larder::tools {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace detail {

// One client: its stream lives here, not in its coroutine, so that stop() can close it.
struct metrics_connection {
  explicit metrics_connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
};

struct metrics_endpoint_state {
  metrics_endpoint_state(asio::any_io_executor executor, metrics_endpoint::render_function render,
                         metrics_endpoint::health_function health_check,
                         metrics_endpoint_options endpoint_options)
      : strand(asio::make_strand(std::move(executor))),
        render_metrics(std::move(render)),
        health(std::move(health_check)),
        options(endpoint_options),
        acceptor(strand),
        slot_freed(strand),
        accept_retry(strand) {}

  asio::strand<asio::any_io_executor> strand;
  metrics_endpoint::render_function render_metrics;
  metrics_endpoint::health_function health;
  metrics_endpoint_options options;

  // Used only on the strand, so unguarded.
  tcp::acceptor acceptor;
  // The accept loop waits on it while max_connections are open; a closing connection cancels it.
  asio::steady_timer slot_freed;
  asio::steady_timer accept_retry;
  std::list<metrics_connection> connections;
  bool stopping = false;

  // mu protects the fields below, which stop() waits on from outside the strand.
  std::mutex mu;
  std::condition_variable tasks_changed;
  unsigned running_tasks = 0;  // the accept loop and the connections' coroutines
  bool stop_requested = false;
};

}  // namespace detail

namespace {

using state = detail::metrics_endpoint_state;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view text_content_type = "text/plain; charset=utf-8";

// After a failed accept (out of file descriptors, most likely), so that a persistent failure
// neither spins nor floods the log.
constexpr std::chrono::milliseconds accept_retry_delay{500};

// "127.0.0.1:9464", "[::1]:9464": how URLs and error messages write an address with a port.
std::string host_port(std::string_view address, std::uint16_t port) {
  if (address.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", address, port);
  return fmt::format("{}:{}", address, port);
}

void uncount_task(state& s) {
  std::lock_guard lock(s.mu);
  --s.running_tasks;
  s.tasks_changed.notify_all();
}

// Starts `task` on the strand, counted in running_tasks until it finishes.
void spawn_counted(const std::shared_ptr<state>& s, asio::awaitable<void> task) {
  // Counted before it can finish, and uncounted if it cannot start: stop() waits on the count.
  {
    std::lock_guard lock(s->mu);
    ++s->running_tasks;
  }
  try {
    asio::co_spawn(s->strand, std::move(task), [s](std::exception_ptr error) {
      if (error) {
        // Only allocation can throw here: the callbacks' exceptions are caught where they are
        // called, and every I/O error is a value.
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          log().error("metrics endpoint: a connection failed: {}", e.what());
        } catch (...) {
          log().error("metrics endpoint: a connection failed");
        }
      }
      uncount_task(*s);
    });
  } catch (...) {
    uncount_task(*s);
    throw;
  }
}

response text_response(http::status status, std::string body) {
  response r{status, 11};
  r.set(http::field::content_type, text_content_type);
  r.body() = std::move(body);
  return r;
}

// Whether the request's target, less any query string, is `path`.
bool targets(const request& req, std::string_view path) {
  const std::string_view target = req.target();
  return target.substr(0, target.find('?')) == path;
}

// Calls a callback, turning what it throws into a logged warning and nullopt.
template <typename Call>
auto guarded(std::string_view what, Call call) -> std::optional<decltype(call())> {
  try {
    return call();
  } catch (const std::exception& e) {
    log().warn("metrics endpoint: {} failed: {}", what, e.what());
  } catch (...) {
    log().warn("metrics endpoint: {} failed", what);
  }
  return std::nullopt;
}

response respond(state& s, const request& req) {
  const bool metrics = targets(req, "/metrics");
  if (!metrics && !targets(req, "/healthz")) {
    return text_response(http::status::not_found, "not found; try /metrics or /healthz\n");
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    response r = text_response(http::status::method_not_allowed, "method not allowed\n");
    r.set(http::field::allow, "GET, HEAD");
    return r;
  }
  if (metrics) {
    std::optional<std::string> body =
        guarded("rendering /metrics", [&] { return s.render_metrics(); });
    if (!body) return text_response(http::status::internal_server_error, "cannot render metrics\n");
    response r{http::status::ok, 11};
    r.set(http::field::content_type, exposition_content_type);
    r.body() = std::move(*body);
    return r;
  }
  const std::optional<health_status> health =
      guarded("the health check", [&] { return s.health(); });
  if (!health) {
    return text_response(http::status::internal_server_error, "cannot check health\n");
  }
  if (health->healthy) return text_response(http::status::ok, "ok\n");
  return text_response(http::status::service_unavailable, health->detail + "\n");
}

// What a failed read is answered with before the connection closes; nullopt when the client has
// gone, stalled or was stopped, and there is no one to answer.
std::optional<http::status> status_for_read_error(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
  // Every other parser error (bad method, target, version, field, line ending, length...) is
  // malformed input.
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
    return http::status::bad_request;
  }
  return std::nullopt;
}

// Writes `r`, without its body when answering HEAD (Content-Length still says what GET sends).
asio::awaitable<beast::error_code> write_response(beast::tcp_stream& stream, response& r, bool head,
                                                  std::chrono::milliseconds timeout) {
  r.prepare_payload();
  stream.expires_after(timeout);
  if (head) {
    const auto length = r.body().size();
    http::response<http::empty_body> header_only{std::move(r.base())};
    header_only.content_length(length);
    auto [ec, written] = co_await http::async_write(stream, header_only, use_tuple);
    co_return ec;
  }
  auto [ec, written] = co_await http::async_write(stream, r, use_tuple);
  co_return ec;
}

// Ends a connection whose request was refused: closing with the client's bytes unread would make
// the kernel answer with a reset, which can destroy the response before the client reads it. So
// stop sending, then read and discard until the client closes its side or the timeout passes.
asio::awaitable<void> close_after_refusal(beast::tcp_stream& stream,
                                          std::chrono::milliseconds timeout) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(timeout);
  std::array<char, 4096> discard;
  while (true) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(discard), use_tuple);
    if (ec) break;
  }
}

asio::awaitable<void> serve_connection(std::shared_ptr<state> s,
                                       std::list<detail::metrics_connection>::iterator it) {
  // Runs when the coroutine ends, however it ends: the slot is free for the accept loop.
  struct release_slot {
    state& s;
    std::list<detail::metrics_connection>::iterator it;
    ~release_slot() {
      s.connections.erase(it);
      s.slot_freed.cancel();
    }
  } release{*s, it};
  beast::tcp_stream& stream = it->stream;
  const std::chrono::milliseconds timeout = s->options.request_timeout;
  beast::flat_buffer buffer;
  while (!s->stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(s->options.header_limit));
    parser.body_limit(s->options.body_limit);
    stream.expires_after(timeout);
    auto [read_error, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (read_error) {
      if (const std::optional<http::status> status = status_for_read_error(read_error)) {
        response r = text_response(*status, std::string{http::obsolete_reason(*status)} + "\n");
        r.keep_alive(false);
        if (!co_await write_response(stream, r, false, timeout)) {
          co_await close_after_refusal(stream, timeout);
        }
      }
      co_return;
    }
    // The parser has refused every version but HTTP/1.0 and 1.1 (bad_version: 400).
    const request& req = parser.get();
    response r = respond(*s, req);
    r.version(req.version());
    r.keep_alive(req.keep_alive());
    const bool keep_alive = r.keep_alive();
    if (co_await write_response(stream, r, req.method() == http::verb::head, timeout)) co_return;
    if (!keep_alive) {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<state> s) {
  while (!s->stopping) {
    if (s->connections.size() >= s->options.max_connections) {
      // Further clients wait in the listen backlog until a connection ends and cancels the wait.
      s->slot_freed.expires_at(asio::steady_timer::time_point::max());
      co_await s->slot_freed.async_wait(use_tuple);
      continue;
    }
    auto [ec, socket] = co_await s->acceptor.async_accept(use_tuple);
    if (s->stopping) break;
    if (ec) {
      log().warn("metrics endpoint: accepting a connection failed: {}; retrying in {} ms",
                 ec.message(), accept_retry_delay.count());
      s->accept_retry.expires_after(accept_retry_delay);
      co_await s->accept_retry.async_wait(use_tuple);
      continue;
    }
    s->connections.emplace_back(std::move(socket));
    spawn_counted(s, serve_connection(s, std::prev(s->connections.end())));
  }
}

}  // namespace

metrics_endpoint::metrics_endpoint(asio::any_io_executor executor, const std::string& address,
                                   std::uint16_t port, render_function render_metrics,
                                   health_function health, metrics_endpoint_options options)
    : state_(std::make_shared<state>(std::move(executor), std::move(render_metrics),
                                     std::move(health), options)) {
  boost::system::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(address, ec);
  if (ec) {
    throw std::system_error(
        ec, fmt::format("metrics endpoint: {} is not an IP address", host_port(address, port)));
  }
  const tcp::endpoint requested{ip, port};
  // Not yet shared with a coroutine: no strand needed.
  tcp::acceptor& acceptor = state_->acceptor;
  const auto check = [&](std::string_view step) {
    if (ec) {
      throw std::system_error(
          ec, fmt::format("metrics endpoint: cannot {} {}", step, host_port(address, port)));
    }
  };
  acceptor.open(requested.protocol(), ec);
  check("open a socket for");
  // A restarted serve can bind while the last one's connections are in TIME_WAIT; on Linux this
  // still refuses a port another socket listens on.
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  check("set SO_REUSEADDR for");
  acceptor.bind(requested, ec);
  check("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  check("listen on");
  local_endpoint_ = acceptor.local_endpoint(ec);
  check("read the port bound for");
  spawn_counted(state_, accept_loop(state_));
}

metrics_endpoint::~metrics_endpoint() {
  stop();
}

void metrics_endpoint::stop() {
  const std::shared_ptr<state> s = state_;
  // From a callback it would wait for itself.
  assert(!s->strand.running_in_this_thread());
  std::unique_lock lock(s->mu);
  if (!s->stop_requested) {
    s->stop_requested = true;
    asio::post(s->strand, [s] {
      s->stopping = true;
      beast::error_code ignored;
      s->acceptor.close(ignored);
      s->slot_freed.cancel();
      s->accept_retry.cancel();
      for (detail::metrics_connection& c : s->connections)
        c.stream.close();
    });
  }
  s->tasks_changed.wait(lock, [&] { return s->running_tasks == 0; });
}

}  // namespace larder::tools
