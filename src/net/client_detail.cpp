// URL parsing and the TLS set-up the HTTP and WebSocket clients share.
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/url/parse.hpp>
#include <openssl/x509v3.h>

#include <map>
#include <mutex>

#include "net/client_detail.hpp"

namespace vox::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using Kind = TransportError::Kind;

std::optional<ParsedUrl> parse_url(std::string_view url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return std::nullopt;
  ParsedUrl p;
  p.scheme = std::string(u->scheme());
  p.host = std::string(u->encoded_host());
  if (u->host_type() == boost::urls::host_type::ipv6) p.host = u->host_ipv6_address().to_string();
  p.port = std::string(u->port());
  if (p.port.empty()) p.port = p.secure() ? "443" : "80";
  p.target = std::string(u->encoded_path());
  if (p.target.empty()) p.target = "/";
  if (u->has_query()) p.target += "?" + std::string(u->encoded_query());
  if (p.host.empty()) return std::nullopt;
  return p;
}

namespace detail {


// OpenSSL decodes a certificate's extensions (key ids, constraints) the first time a
// verification needs them and stores them in the certificate. The CA certificates loaded
// here are shared by handshakes on every network thread, so they are decoded now, while
// only this thread can see them, instead of by two handshakes at once.
static void cache_certificate_extensions(SSL_CTX* ctx) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i))) X509_check_purpose(cert, -1, 0);
  }
}

// Client TLS contexts, one per CA file, shared by every connection.
std::shared_ptr<ssl::context> tls_context(const TlsOptions& opt) {
  static std::mutex mu;
  static std::map<std::pair<std::string, bool>, std::shared_ptr<ssl::context>> cache;
  std::lock_guard lock(mu);
  auto& slot = cache[{opt.ca_file, opt.verify}];
  if (slot) return slot;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (opt.verify) {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!opt.ca_file.empty()) {
      beast::error_code ec;
      ctx->load_verify_file(opt.ca_file, ec);
      if (ec) throw TransportError(Kind::kTls, "cannot load CA file " + opt.ca_file + ": " + ec.message());
      cache_certificate_extensions(ctx->native_handle());
    } else {
      ctx->set_default_verify_paths();
    }
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  slot = ctx;
  return ctx;
}

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// SNI and host-name (or IP) verification for one TLS connection.
void prepare_tls(SSL* ssl_handle, const std::string& host, bool verify) {
  if (!is_ip_literal(host)) SSL_set_tlsext_host_name(ssl_handle, host.c_str());
  if (!verify) return;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (is_ip_literal(host)) X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  else X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
}

std::string host_header(const ParsedUrl& u) {
  const bool default_port = (u.secure() && u.port == "443") || (!u.secure() && u.port == "80");
  const std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  return default_port ? host : host + ":" + u.port;
}

}  // namespace detail
}  // namespace vox::net
