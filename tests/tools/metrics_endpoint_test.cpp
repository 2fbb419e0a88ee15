// metrics_endpoint over real TCP on 127.0.0.1: a plain Asio client sends raw bytes and checks
// exactly what comes back, and when the server closes the connection.
#include "metrics_endpoint.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "larder/runtime/runtime.hpp"

namespace larder::tools {
namespace {

using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::string_view exposition_type = "text/plain; version=0.0.4; charset=utf-8";

std::string lowercase(std::string_view text) {
  std::string out{text};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct http_reply {
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The value of the header `name` (case ignored), nullopt if absent.
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (lowercase(key) == lowercase(name)) return value;
    }
    return std::nullopt;
  }
};

// A client on its own io_context, every read bounded by a deadline so that a broken server fails
// the test instead of hanging it.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port, const char* address = "127.0.0.1") {
    socket_.connect({asio::ip::make_address(address), port});
  }

  void send(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // The next response; nullopt if none is complete within `limit`. `head`: it answers a HEAD
  // request, so it has no body whatever its Content-Length says.
  std::optional<http_reply> read_reply(bool head = false, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::size_t header_end;
    while ((header_end = received_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more(deadline)) return std::nullopt;
    }
    http_reply reply;
    const std::string_view header_text = std::string_view{received_}.substr(0, header_end + 2);
    std::size_t line_start = 0;
    while (line_start < header_text.size()) {
      const std::size_t line_end = header_text.find("\r\n", line_start);
      const std::string_view line = header_text.substr(line_start, line_end - line_start);
      line_start = line_end + 2;
      if (reply.status_line.empty()) {
        reply.status_line = line;
        continue;
      }
      const std::size_t colon = line.find(':');
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      reply.headers.emplace_back(std::string{line.substr(0, colon)}, std::string{value});
    }
    const std::optional<std::string> length = reply.header("Content-Length");
    const std::size_t body_length = head || !length ? 0 : std::stoul(*length);
    const std::size_t total = header_end + 4 + body_length;
    while (received_.size() < total) {
      if (!read_more(deadline)) return std::nullopt;
    }
    reply.body = received_.substr(header_end + 4, body_length);
    received_.erase(0, total);
    return reply;
  }

  // Whether the server closes the connection within `limit` (what it sends first is discarded).
  bool closed_by_server(std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (read_more(deadline)) {
    }
    return closed_;
  }

  void close() { socket_.close(); }

 private:
  // Appends what arrives to received_; false once the server has closed or the deadline passed.
  bool read_more(std::chrono::steady_clock::time_point deadline) {
    if (closed_) return false;
    std::array<char, 4096> chunk;
    std::optional<boost::system::error_code> outcome;
    std::size_t n = 0;
    socket_.async_read_some(asio::buffer(chunk), [&](boost::system::error_code ec, std::size_t k) {
      outcome = ec;
      n = k;
    });
    context_.restart();
    context_.run_until(deadline);
    if (!outcome) {
      socket_.cancel();
      context_.restart();
      context_.run();
      return false;
    }
    if (*outcome) {
      closed_ = *outcome == asio::error::eof || *outcome == asio::error::connection_reset;
      return false;
    }
    received_.append(chunk.data(), n);
    return true;
  }

  asio::io_context context_;
  tcp::socket socket_{context_};
  std::string received_;
  bool closed_ = false;
};

std::string get(std::string_view target, std::string_view method = "GET") {
  return std::string{method} + " " + std::string{target} + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
}

class MetricsEndpoint : public ::testing::Test {
 protected:
  // Serves a body counting the calls of render_metrics, and health_ as the health.
  void start(metrics_endpoint_options options = {}) {
    endpoint_.emplace(
        rt_.executor(), "127.0.0.1", 0,
        [this] {
          if (render_throws_) throw std::runtime_error("stats unavailable");
          return "larder_renders_total " + std::to_string(++renders_) + "\n";
        },
        [this] {
          return health_status{healthy_, "model_cache: disk tier degraded"};
        },
        options);
  }
  raw_client connect() { return raw_client{endpoint_->port()}; }

  // Two runtime threads: the endpoint's strand hops between them, as in `larder serve`.
  runtime rt_{{.threads = 2}};
  std::atomic<int> renders_{0};
  std::atomic<bool> render_throws_{false};
  std::atomic<bool> healthy_{true};
  // Declared after rt_, so destroyed (stopped) while the runtime still runs.
  std::optional<metrics_endpoint> endpoint_;
};

TEST_F(MetricsEndpoint, BindsAnEphemeralPortWhenAskedForZero) {
  start();
  EXPECT_NE(endpoint_->port(), 0);
  EXPECT_EQ(endpoint_->local_endpoint().address().to_string(), "127.0.0.1");
}

TEST_F(MetricsEndpoint, GetMetricsAnswersTheRenderedBodyInTheExpositionFormat) {
  start();
  raw_client client = connect();
  client.send(get("/metrics"));
  const std::optional<http_reply> reply = client.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(reply->header("Content-Type"), exposition_type);
  EXPECT_EQ(reply->header("Content-Length"), "23");
  EXPECT_EQ(reply->body, "larder_renders_total 1\n");
  EXPECT_FALSE(reply->header("Connection"));
}

TEST_F(MetricsEndpoint, KeepAliveConnectionServesRequestsInTurnRenderingEachAfresh) {
  start();
  raw_client client = connect();
  client.send(get("/metrics"));
  std::optional<http_reply> first = client.read_reply();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "larder_renders_total 1\n");
  client.send(get("/metrics?name[]=larder_renders_total"));
  std::optional<http_reply> second = client.read_reply();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(second->body, "larder_renders_total 2\n");
  // Pipelined: both requests in one write, answered in order.
  client.send(get("/healthz") + get("/metrics"));
  std::optional<http_reply> third = client.read_reply();
  std::optional<http_reply> fourth = client.read_reply();
  ASSERT_TRUE(third && fourth);
  EXPECT_EQ(third->body, "ok\n");
  EXPECT_EQ(fourth->body, "larder_renders_total 3\n");
}

TEST_F(MetricsEndpoint, HeadSendsTheHeadersOfGetWithoutTheBody) {
  start();
  raw_client client = connect();
  client.send(get("/metrics", "HEAD"));
  std::optional<http_reply> head = client.read_reply(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(head->header("Content-Type"), exposition_type);
  EXPECT_EQ(head->header("Content-Length"), "23");
  // Had a body followed, this reply would read it as its status line.
  client.send(get("/healthz"));
  std::optional<http_reply> next = client.read_reply();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(next->body, "ok\n");
}

TEST_F(MetricsEndpoint, HealthzIsOkWhileHealthyAnd503WithTheDetailOtherwise) {
  start();
  raw_client client = connect();
  client.send(get("/healthz"));
  std::optional<http_reply> ok = client.read_reply();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(ok->header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(ok->body, "ok\n");

  healthy_ = false;
  client.send(get("/healthz?verbose"));
  std::optional<http_reply> unhealthy = client.read_reply();
  ASSERT_TRUE(unhealthy);
  EXPECT_EQ(unhealthy->status_line, "HTTP/1.1 503 Service Unavailable");
  EXPECT_EQ(unhealthy->body, "model_cache: disk tier degraded\n");
}

TEST_F(MetricsEndpoint, UnknownPathIs404) {
  start();
  raw_client client = connect();
  for (const char* target : {"/", "/metrics/", "/metricsx", "/healthz/x", "*"}) {
    client.send(get(target));
    std::optional<http_reply> reply = client.read_reply();
    ASSERT_TRUE(reply) << target;
    EXPECT_EQ(reply->status_line, "HTTP/1.1 404 Not Found") << target;
  }
  EXPECT_EQ(renders_, 0);
}

TEST_F(MetricsEndpoint, OtherMethodsAre405NamingTheAllowedOnes) {
  start();
  raw_client client = connect();
  // A small body is read and ignored, and the connection stays usable.
  client.send("POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
  std::optional<http_reply> post = client.read_reply();
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status_line, "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(post->header("Allow"), "GET, HEAD");
  client.send(get("/healthz", "DELETE"));
  std::optional<http_reply> del = client.read_reply();
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status_line, "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(del->header("Allow"), "GET, HEAD");
  EXPECT_EQ(renders_, 0);
  client.send(get("/metrics"));
  std::optional<http_reply> after = client.read_reply();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status_line, "HTTP/1.1 200 OK");
}

TEST_F(MetricsEndpoint, RenderingThatThrowsIs500AndTheConnectionStaysUsable) {
  start();
  render_throws_ = true;
  raw_client client = connect();
  client.send(get("/metrics"));
  std::optional<http_reply> failed = client.read_reply();
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status_line, "HTTP/1.1 500 Internal Server Error");
  EXPECT_EQ(failed->body, "cannot render metrics\n");
  render_throws_ = false;
  client.send(get("/metrics"));
  std::optional<http_reply> recovered = client.read_reply();
  ASSERT_TRUE(recovered);
  EXPECT_EQ(recovered->status_line, "HTTP/1.1 200 OK");
}

TEST_F(MetricsEndpoint, ConnectionCloseAndHttp10AreAnsweredThenClosed) {
  start();
  raw_client client = connect();
  client.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  std::optional<http_reply> reply = client.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(reply->header("Connection"), "close");
  EXPECT_TRUE(client.closed_by_server());

  raw_client old = connect();
  old.send("GET /healthz HTTP/1.0\r\n\r\n");
  std::optional<http_reply> old_reply = old.read_reply();
  ASSERT_TRUE(old_reply);
  EXPECT_EQ(old_reply->status_line, "HTTP/1.0 200 OK");
  EXPECT_EQ(old_reply->body, "ok\n");
  EXPECT_TRUE(old.closed_by_server());
}

// Input the parser refuses: the reply it gets, and the connection closed after it.
struct refused_case {
  const char* name;
  std::string request;
  const char* status_line;
};

void PrintTo(const refused_case& c, std::ostream* os) {
  *os << c.name;
}

class MetricsEndpointRefuses : public MetricsEndpoint,
                               public ::testing::WithParamInterface<refused_case> {};

TEST_P(MetricsEndpointRefuses, AnswersThenCloses) {
  start();
  raw_client client = connect();
  client.send(GetParam().request);
  std::optional<http_reply> reply = client.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status_line, GetParam().status_line);
  EXPECT_EQ(reply->header("Connection"), "close");
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_EQ(renders_, 0);
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, MetricsEndpointRefuses,
    ::testing::Values(
        refused_case{"Garbage",
                     std::string{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15},
                     "HTTP/1.1 400 Bad Request"},
        refused_case{"MalformedVersion", "GET /metrics HTTP/1.x\r\nHost: localhost\r\n\r\n",
                     "HTTP/1.1 400 Bad Request"},
        refused_case{"BadHeaderLine", "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
                     "HTTP/1.1 400 Bad Request"},
        refused_case{"Http2Version", "GET /metrics HTTP/2.0\r\nHost: localhost\r\n\r\n",
                     "HTTP/1.1 400 Bad Request"},
        refused_case{"HugeHeader",
                     "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Filler: " +
                         std::string(64 * 1024, 'a') + "\r\n\r\n",
                     "HTTP/1.1 431 Request Header Fields Too Large"},
        refused_case{"BodyOverTheLimit",
                     "GET /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" +
                         std::string(100000, 'b'),
                     "HTTP/1.1 413 Payload Too Large"}),
    [](const auto& info) { return std::string{info.param.name}; });

TEST_F(MetricsEndpoint, IdleAndStalledClientsAreDroppedAfterTheTimeout) {
  start({.request_timeout = 200ms});
  raw_client idle = connect();
  raw_client stalled = connect();
  stalled.send("GET /metrics HTTP/1.1\r\nHost: loc");
  EXPECT_TRUE(idle.closed_by_server());
  EXPECT_TRUE(stalled.closed_by_server());
  // Between keep-alive requests too.
  raw_client between = connect();
  between.send(get("/healthz"));
  ASSERT_TRUE(between.read_reply());
  EXPECT_TRUE(between.closed_by_server());
}

TEST_F(MetricsEndpoint, ClientsBeyondMaxConnectionsWaitForAFreeSlot) {
  start({.max_connections = 1});
  raw_client first = connect();
  first.send(get("/healthz"));
  ASSERT_TRUE(first.read_reply());
  // Connected (the kernel completes the handshake) but not accepted while `first` holds the slot.
  raw_client second = connect();
  second.send(get("/healthz"));
  EXPECT_FALSE(second.read_reply(false, 300ms));
  first.close();
  std::optional<http_reply> reply = second.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body, "ok\n");
}

TEST_F(MetricsEndpoint, StopClosesConnectedClientsAndTheListeningSocket) {
  start();
  const std::uint16_t port = endpoint_->port();
  raw_client idle = connect();
  raw_client served = connect();
  served.send(get("/metrics"));
  ASSERT_TRUE(served.read_reply());
  endpoint_->stop();
  EXPECT_TRUE(idle.closed_by_server());
  EXPECT_TRUE(served.closed_by_server());
  asio::io_context context;
  tcp::socket socket(context);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_EQ(ec, asio::error::connection_refused);
  // Idempotent, and the destructor's call returns too.
  endpoint_->stop();
  endpoint_.reset();
}

TEST_F(MetricsEndpoint, PortInUseThrowsNamingAddressAndPort) {
  start();
  const std::uint16_t port = endpoint_->port();
  try {
    metrics_endpoint second(
        rt_.executor(), "127.0.0.1", port, [] { return std::string{}; },
        [] { return health_status{}; });
    FAIL() << "a second endpoint bound port " << port;
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string{e.what()}.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << e.what();
  }
}

TEST_F(MetricsEndpoint, AddressThatIsNotALiteralThrowsNamingIt) {
  try {
    metrics_endpoint endpoint(
        rt_.executor(), "localhost", 9464, [] { return std::string{}; },
        [] { return health_status{}; });
    FAIL() << "bound a host name";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string{e.what()}.find("localhost:9464 is not an IP address"), std::string::npos)
        << e.what();
  }
}

TEST_F(MetricsEndpoint, ServesOnIpv6Loopback) {
  try {
    endpoint_.emplace(
        rt_.executor(), "::1", 0, [] { return std::string{"x 1\n"}; },
        [] { return health_status{}; });
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  raw_client client{endpoint_->port(), "::1"};
  client.send(get("/metrics"));
  std::optional<http_reply> reply = client.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(reply->body, "x 1\n");
}

}  // namespace
}  // namespace larder::tools
