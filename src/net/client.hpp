#pragma once
// Plain-TCP HTTP and WebSocket clients (http://, ws://) used by the simulated caller
// and tests. One coroutine per request; a WsClient has a single writer.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/http_types.hpp"

namespace vox::net {

struct ParsedUrl {
  std::string scheme;  // http, https, ws, wss
  std::string host;
  std::string port;    // always set (defaulted from the scheme)
  std::string target;  // path + query, at least "/"
};

// Parses an absolute URL; nullopt when it is not one.
std::optional<ParsedUrl> parse_url(std::string_view url);

using Headers = std::vector<std::pair<std::string, std::string>>;

// Performs one HTTP/1.1 request (plain TCP). Throws std::runtime_error on connect,
// protocol or timeout failures; non-2xx statuses are returned, not thrown.
boost::asio::awaitable<HttpResponse> http_request(std::string method, std::string url, Headers headers,
                                                  std::string body,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A WebSocket client connection.
class WsClient {
 public:
  // Connects and performs the handshake; throws std::runtime_error on failure.
  static boost::asio::awaitable<std::shared_ptr<WsClient>> connect(std::string url, Headers headers = {});
  virtual ~WsClient() = default;
  // Returns the next text message, or nullopt once the connection is closed.
  virtual boost::asio::awaitable<std::optional<std::string>> read() = 0;
  // Queues a text message (single writer; safe from the client's executor only).
  virtual void send(std::string message) = 0;
  // Sends a close frame after queued messages.
  virtual void close() = 0;
  // Drops the TCP connection without a close handshake.
  virtual void abort() = 0;
  // The close reason code received from the peer (0 if none).
  virtual int close_code() const = 0;
};

}  // namespace vox::net
