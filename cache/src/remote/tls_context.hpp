// tls_context: OpenSSL set-up for a TLS connection to Redis, from the endpoint's redis_tls.
//
// make_tls_context loads the trusted authorities and the client's certificate once per
// connection; prepare_tls_stream names the server (SNI, and the name or address its certificate
// must carry); describe_handshake_failure turns a failed handshake into words a user can act on.
// Messages name files and OpenSSL's reasons, never key material.
//
// Thread safety: free functions; a context or stream is used by one connection's strand only.
#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/system/error_code.hpp>

#include <larder/cache/remote/redis_connection.hpp>

namespace larder {

using tls_stream = asio::ssl::stream<asio::ip::tcp::socket&>;

// A client context: TLS 1.2 or later, peer verification as settings.verify_peer says. Throws
// std::system_error (errc::invalid_argument) naming `name` (host:port) and the file that could
// not be loaded.
asio::ssl::context make_tls_context(const redis_tls& settings, const std::string& name);

// Sets the name the handshake sends (SNI, for a DNS name) and checks (a DNS name or an IP
// address): settings.server_name, or `host` when that is unset.
void prepare_tls_stream(tls_stream& stream, const redis_tls& settings, const std::string& host);

// OpenSSL's reason for `error`, and, when the server's certificate did not verify, why not
// ("certificate verify failed: hostname mismatch").
std::string describe_handshake_failure(tls_stream& stream, const boost::system::error_code& error);

}  // namespace larder
