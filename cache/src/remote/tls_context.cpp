#include "tls_context.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <system_error>

#include <boost/asio/ip/address.hpp>

namespace larder {
namespace {

[[noreturn]] void fail_to_load(const std::string& name, const char* what, const std::string& file,
                               const boost::system::error_code& error) {
  throw std::system_error(
      std::make_error_code(std::errc::invalid_argument),
      "redis " + name + ": TLS: cannot load the " + what + " " + file + ": " + error.message());
}

}  // namespace

asio::ssl::context make_tls_context(const redis_tls& settings, const std::string& name) {
  asio::ssl::context context(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  boost::system::error_code error;
  if (settings.ca_file.empty()) {
    context.set_default_verify_paths(error);
    if (error) fail_to_load(name, "system's", "certificate authorities", error);
  } else {
    context.load_verify_file(settings.ca_file, error);
    if (error) fail_to_load(name, "CA file", settings.ca_file, error);
  }
  if (settings.cert_file.empty() != settings.key_file.empty()) {
    throw std::system_error(
        std::make_error_code(std::errc::invalid_argument),
        "redis " + name + ": TLS: a client certificate needs both cert_file and key_file");
  }
  if (!settings.cert_file.empty()) {
    context.use_certificate_chain_file(settings.cert_file, error);
    if (error) fail_to_load(name, "certificate file", settings.cert_file, error);
    context.use_private_key_file(settings.key_file, asio::ssl::context::pem, error);
    if (error) fail_to_load(name, "key file", settings.key_file, error);
  }
  context.set_verify_mode(settings.verify_peer ? asio::ssl::verify_peer : asio::ssl::verify_none);
  return context;
}

void prepare_tls_stream(tls_stream& stream, const redis_tls& settings, const std::string& host) {
  const std::string& server_name = settings.server_name.value_or(host);
  SSL* ssl = stream.native_handle();
  boost::system::error_code not_an_address;
  asio::ip::make_address(server_name, not_an_address);
  if (!not_an_address) {
    // RFC 6066: no SNI for an address; the certificate must list it as an IP SAN.
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, server_name.c_str());
    SSL_set1_host(ssl, server_name.c_str());
  }
}

std::string describe_handshake_failure(tls_stream& stream, const boost::system::error_code& error) {
  std::string what = error.message();
  const long verified = SSL_get_verify_result(stream.native_handle());
  if (verified != X509_V_OK) {
    what += ": ";
    what += X509_verify_cert_error_string(verified);
  }
  return what;
}

}  // namespace larder
