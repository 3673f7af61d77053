#pragma once
// What the HTTP and WebSocket clients share (private to net/): TLS contexts with peer
// and host-name verification, and the Host header of a URL.
#include <boost/asio/ssl.hpp>

#include <memory>
#include <string>

#include "net/client.hpp"

namespace vox::net::detail {

// The client TLS context for `opt` (one per CA file and verify flag, shared).
std::shared_ptr<boost::asio::ssl::context> tls_context(const TlsOptions& opt);
// Whether `host` is an IP address literal (verified as an IP, sent without SNI).
bool is_ip_literal(const std::string& host);
// Sets SNI and host-name (or IP) verification on a new TLS connection to `host`.
void prepare_tls(SSL* ssl_handle, const std::string& host, bool verify);
// The Host header for `u` (the port only when it is not the scheme's default).
std::string host_header(const ParsedUrl& u);

}  // namespace vox::net::detail
