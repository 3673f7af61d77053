#pragma once
// Plain request/response structs handed to route handlers: Beast stays inside net/.
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vox::net {

struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
  using is_transparent = void;
};

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // path + query as sent
  std::string path;     // decoded path
  std::string query;    // raw query string (no '?')
  std::map<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;
  std::string remote;   // peer address
  std::map<std::string, std::string, std::less<>> path_params;  // {name} segments of the route

  // Returns the header's value, or "" when absent.
  std::string_view header(std::string_view name) const;
  // Returns the path parameter's value, or "".
  std::string_view param(std::string_view name) const;
};

// Writes a response body piece by piece (chunked transfer encoding).
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Sends one chunk now; returns false when the peer is gone.
  virtual boost::asio::awaitable<bool> write(std::string_view chunk) = 0;
  // Drops the connection without finishing the body (fault injection, fatal errors).
  virtual void reset() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is produced by this coroutine in chunks instead of `body`.
  std::function<boost::asio::awaitable<void>(BodyWriter&)> stream;

  static HttpResponse json(int status, std::string body);
  static HttpResponse text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // {"detail": "..."} — the error shape of our APIs.
  static HttpResponse error(int status, std::string_view detail);
};

// Decodes an application/x-www-form-urlencoded body or query string into pairs, in
// order; repeated names are kept. Malformed escapes are kept literally.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body);

// Percent-encodes a URL query or path component: everything but RFC 3986's unreserved
// characters (A-Z a-z 0-9 - _ . ~); a space becomes %20.
std::string url_encode(std::string_view s);

// The WebSocket URL of an HTTP one: http:// becomes ws://, https:// wss://; others unchanged.
std::string websocket_url(std::string http_url);

// Returns the first value of `name` in `form`, or "".
std::string_view form_value(const std::vector<std::pair<std::string, std::string>>& form, std::string_view name);

}  // namespace vox::net
