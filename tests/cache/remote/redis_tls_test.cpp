// redis_connection over TLS against a real redis-server listening only on --tls-port, with
// certificates the openssl command makes at test time: binary round trips, pipelining from two
// threads, client certificates, passwords, and the handshakes that must fail with a clear error
// (an untrusted server, a name mismatch, a missing client certificate, a plain-text client).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <larder/cache/cache_manager.hpp>
#include <larder/config/config_loader.hpp>
#include <larder/runtime/runtime.hpp>

#include "larder/cache/remote/redis_connection.hpp"
#include "redis_server.hpp"
#include "remote_test_support.hpp"
#include "scratch_directory.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;
using testing::bytes_of;
using testing::text_of;

// A test CA; a server certificate it signed for 127.0.0.1 and localhost; a client certificate it
// signed; and a second CA that signed neither. P-256 keys: quick to make.
class test_certificates {
 public:
  test_certificates() {
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    directory_.write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    directory_.write("client.ext", "extendedKeyUsage=clientAuth\n");
    for (const std::string ca : {"ca", "other-ca"}) {
      run("openssl req -x509 " + key + " -days 2 -subj /CN=larder-test-" + ca + " -keyout " + ca +
          ".key -out " + ca + ".crt");
    }
    for (const std::string peer : {"server", "client"}) {
      run("openssl req -new " + key + " -subj /CN=larder-test-" + peer + " -keyout " + peer +
          ".key -out " + peer + ".csr");
      run("openssl x509 -req -in " + peer +
          ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 " + "-extfile " + peer +
          ".ext -out " + peer + ".crt");
    }
  }

  std::string path(const std::string& file) const { return (directory_.path() / file).string(); }

 private:
  void run(const std::string& command) {
    const std::string in_directory =
        "cd '" + directory_.path().string() + "' && " + command + " >/dev/null 2>&1";
    if (std::system(in_directory.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }

  testing::scratch_directory directory_;
};

class RedisTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certificates_ = new test_certificates(); }
  static void TearDownTestSuite() {
    delete certificates_;
    certificates_ = nullptr;
  }

  // A server on a TLS port only (--port 0), with `extra_args` besides.
  void start_server(bool client_certificates_required, std::vector<std::string> extra_args = {}) {
    const std::uint16_t port = testing::free_port();
    std::vector<std::string> args{"--port",
                                  "0",
                                  "--tls-port",
                                  std::to_string(port),
                                  "--tls-cert-file",
                                  certificates_->path("server.crt"),
                                  "--tls-key-file",
                                  certificates_->path("server.key"),
                                  "--tls-ca-cert-file",
                                  certificates_->path("ca.crt"),
                                  "--tls-auth-clients",
                                  client_certificates_required ? "yes" : "no"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    server_ = std::make_unique<testing::redis_server>(args, port, testing::accepts_connections);
  }

  // Trusts the test CA; no client certificate.
  redis_endpoint endpoint() const {
    redis_endpoint e;
    e.port = server_->port();
    e.request_timeout = 5s;
    e.tls = redis_tls{.ca_file = certificates_->path("ca.crt")};
    return e;
  }

  redis_endpoint endpoint_with_client_certificate() const {
    redis_endpoint e = endpoint();
    e.tls->cert_file = certificates_->path("client.crt");
    e.tls->key_file = certificates_->path("client.key");
    return e;
  }

  std::string name() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  std::unique_ptr<redis_connection> connect(redis_endpoint e) {
    return rt_.run(redis_connection::connect(rt_.executor(), std::move(e)));
  }

  // Connecting with `e` fails with `code` and a message that names the server and holds `words`.
  void expect_connect_failure(const redis_endpoint& e, std::errc code, const std::string& words) {
    try {
      connect(e);
      ADD_FAILURE() << "connected";
    } catch (const std::system_error& err) {
      const std::string message = err.what();
      EXPECT_EQ(err.code(), code) << message;
      EXPECT_NE(message.find(name()), std::string::npos) << message;
      EXPECT_NE(message.find(words), std::string::npos) << message;
    }
  }

  static test_certificates* certificates_;
  std::unique_ptr<testing::redis_server> server_;
  runtime rt_{runtime_options{.threads = 2}};
};

test_certificates* RedisTls::certificates_ = nullptr;

TEST_F(RedisTls, RoundTripsBinaryValues) {
  start_server(false);
  auto c = connect(endpoint());
  testing::expect_binary_round_trips(rt_, *c);
  EXPECT_TRUE(rt_.run(c->del("zeros")));
  EXPECT_FALSE(rt_.run(c->get("zeros")).has_value());
}

TEST_F(RedisTls, PipelinedRequestsFromTwoThreadsAllGetTheirOwnValue) {
  start_server(false);
  auto c = connect(endpoint());
  testing::expect_pipelined_gets_from_two_threads(
      rt_, *c, [](int k) { return std::string(k * 100, 'v') + std::to_string(k); });
}

TEST_F(RedisTls, DnsNameOfTheCertificateVerifies) {
  start_server(false);
  redis_endpoint e = endpoint();
  e.host = "localhost";
  auto c = connect(e);
  EXPECT_EQ(rt_.run(c->command({"PING"})).text, "PONG");
}

TEST_F(RedisTls, UntrustedServerFailsVerification) {
  start_server(false);
  redis_endpoint e = endpoint();
  e.tls->ca_file = certificates_->path("other-ca.crt");
  expect_connect_failure(e, std::errc::connection_refused, "certificate verify failed");
}

TEST_F(RedisTls, UntrustedServerIsAcceptedWithoutVerification) {
  start_server(false);
  redis_endpoint e = endpoint();
  e.tls->ca_file = certificates_->path("other-ca.crt");
  e.tls->verify_peer = false;
  auto c = connect(e);
  EXPECT_EQ(rt_.run(c->command({"PING"})).text, "PONG");
}

TEST_F(RedisTls, ServerNameMismatchFailsVerification) {
  start_server(false);
  redis_endpoint e = endpoint();
  e.tls->server_name = "cache.example.com";
  expect_connect_failure(e, std::errc::connection_refused, "hostname mismatch");
}

TEST_F(RedisTls, MissingCaFileNamesIt) {
  start_server(false);
  redis_endpoint e = endpoint();
  e.tls->ca_file = certificates_->path("no-such-ca.crt");
  expect_connect_failure(e, std::errc::invalid_argument, "no-such-ca.crt");
}

TEST_F(RedisTls, ClientCertificateIsAcceptedWhenRequired) {
  start_server(true);
  auto c = connect(endpoint_with_client_certificate());
  rt_.run(c->set("k", bytes_of("v")));
  EXPECT_EQ(text_of(*rt_.run(c->get("k"))), "v");
}

TEST_F(RedisTls, MissingClientCertificateWhenRequiredFailsTheConnect) {
  start_server(true);
  // TLS 1.3: the refusal comes after our side of the handshake, as an alert or a reset.
  expect_connect_failure(endpoint(), std::errc::connection_refused, "client certificate");
}

TEST_F(RedisTls, PasswordOverTls) {
  start_server(false, {"--requirepass", "secret"});
  redis_endpoint e = endpoint();
  e.password = "secret";
  auto c = connect(e);
  rt_.run(c->set("k", bytes_of("v")));
  EXPECT_EQ(text_of(*rt_.run(c->get("k"))), "v");

  e.password = "hunter2-wrong";
  expect_connect_failure(e, std::errc::permission_denied, "authentication failed");
  try {
    connect(e);
  } catch (const std::system_error& err) {
    EXPECT_EQ(std::string(err.what()).find("hunter2"), std::string::npos) << err.what();
  }
}

// The server drops a client that does not speak TLS; the connect fails, well within its timeout.
TEST_F(RedisTls, PlainClientToATlsPortFailsCleanly) {
  start_server(false);
  redis_endpoint e = endpoint();
  e.tls.reset();
  e.connect_timeout = 3s;
  const auto start = std::chrono::steady_clock::now();
  try {
    connect(e);
    ADD_FAILURE() << "a plain-text client was answered by a TLS port";
  } catch (const std::system_error& err) {
    EXPECT_NE(std::string(err.what()).find(name()), std::string::npos) << err.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, e.connect_timeout + 500ms);
}

// The whole path from the configuration: cache.remote.tls read from YAML, a cache publishing
// over TLS and another one, with a client certificate, hitting remotely.
TEST_F(RedisTls, TheRemoteTierSpeaksTlsAsTheConfigurationSays) {
  start_server(false);
  const testing::scratch_directory disks;
  const std::string yaml = "cache:\n  remote:\n    enabled: true\n    nodes: [\"127.0.0.1:" +
                           std::to_string(server_->port()) +
                           "\"]\n    request_timeout: 5s\n    tls:\n      enabled: true\n"
                           "      ca_file: " +
                           certificates_->path("ca.crt") + "\n      server_name: localhost\n";
  cache_config config = parse_yaml_config(yaml);
  config.disk.path = disks.path() / "a";
  auto a = rt_.run(cache_manager::open(rt_.executor(), config, {.region_size = 1 << 20}));
  rt_.run(a->put("over", blob::copy_of(bytes_of("tls"))));
  ASSERT_TRUE(testing::eventually([&] { return a->metrics().remote->publishes == 1; }));

  config.remote.tls.cert_file = certificates_->path("client.crt");
  config.remote.tls.key_file = certificates_->path("client.key");
  config.disk.path = disks.path() / "b";
  auto b = rt_.run(cache_manager::open(rt_.executor(), config, {.region_size = 1 << 20}));
  const std::optional<blob> got = rt_.run(b->get("over"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(text_of(*got), "tls");
  EXPECT_EQ(b->metrics().remote->hits, 1u);
  rt_.run(a->close());
  rt_.run(b->close());

  // Not trusting the server's CA: the tier cannot connect; the cache opens and misses.
  config.remote.tls.ca_file = certificates_->path("other-ca.crt");
  config.remote.connect_timeout = std::chrono::milliseconds(500);
  config.disk.path = disks.path() / "c";
  auto c = rt_.run(cache_manager::open(rt_.executor(), config, {.region_size = 1 << 20}));
  EXPECT_FALSE(c->metrics().remote->connected);
  EXPECT_FALSE(rt_.run(c->get("over")).has_value());
  rt_.run(c->close());
}

}  // namespace
}  // namespace larder
