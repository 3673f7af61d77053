#pragma once
// Maps method + path to HTTP handlers and path to WebSocket handlers.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.hpp"

namespace vox::net {

// A WebSocket connection as seen by a handler. send_text() and close() may be called
// from any thread; messages are written in order by the connection's single writer.
class WsConnection {
 public:
  virtual ~WsConnection() = default;
  virtual void send_text(std::string message) = 0;
  // The same, for a message the caller keeps (a reused buffer): on the connection's
  // strand it is copied into one of the writer's recycled buffers, so a steady stream
  // of messages allocates nothing.
  virtual void send_text_copy(std::string_view message) { send_text(std::string(message)); }
  // A binary message (a copy of `message`), in order with the text ones; on the
  // connection's strand. Connections that carry only text ignore it.
  virtual void send_binary_copy(std::string_view /*message*/) {}
  // Closes after everything queued so far has been written.
  virtual void close(std::uint16_t code, std::string reason) = 0;
  // Drops the TCP connection at once, without a close handshake (fault injection).
  virtual void abort() {}
  // Replaces the server's --ws-idle-timeout for this connection: a peer silent this long
  // (no message, no ping) is dropped. Call from a handler callback (on the strand).
  virtual void set_idle_limit(std::chrono::milliseconds /*limit*/) {}
  // The connection's strand: handler callbacks run here; post here to touch handler state.
  virtual boost::asio::any_io_executor executor() = 0;
  virtual std::string_view remote() const = 0;
};

// Receives one WebSocket connection's events, always on the connection's strand.
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  virtual void on_open(std::shared_ptr<WsConnection> connection) = 0;
  virtual void on_text(std::string_view message) = 0;
  // A binary frame; the default rejects it with a log line.
  virtual void on_binary(std::string_view message);
  // The socket is gone (closed by either side or failed). Called exactly once.
  virtual void on_close(std::string_view reason) = 0;
};

using HttpHandler = std::function<boost::asio::awaitable<HttpResponse>(const HttpRequest&)>;
// Returns the handler for an upgrade request, or nullptr and fills `reject` to refuse it.
using WsFactory = std::function<std::unique_ptr<WsHandler>(const HttpRequest& upgrade, HttpResponse& reject)>;

// Routes by method and path. A path segment written `{name}` matches any one segment
// and is handed to the handler in HttpRequest::path_params; literal routes win over
// patterns when both match.
class Router {
 public:
  void add(std::string method, std::string path, HttpHandler handler);
  void add_ws(std::string path, WsFactory factory);

  // Returns the handler, or nullptr; sets `path_known` when the path exists for another
  // method. Fills `params` from the matched pattern.
  const HttpHandler* find(std::string_view method, std::string_view path, bool& path_known,
                          std::map<std::string, std::string, std::less<>>* params = nullptr) const;
  const WsFactory* find_ws(std::string_view path, std::map<std::string, std::string, std::less<>>* params = nullptr) const;
  // Returns `path` fit for a log line: the segments that routes name as credentials
  // (`{..key..}`, `{..token..}`, `{..secret..}`) replaced by "***", at most 200 characters.
  std::string loggable_path(std::string_view path) const;

 private:
  struct Pattern {
    std::vector<std::string> segments;
    int literals = 0;
    bool match(std::string_view path, std::map<std::string, std::string, std::less<>>* params) const;
  };
  struct HttpRoute {
    std::string method;
    Pattern pattern;
    HttpHandler handler;
  };
  struct WsRoute {
    Pattern pattern;
    WsFactory factory;
  };
  static Pattern compile(std::string_view path);
  std::vector<HttpRoute> http_;
  std::vector<WsRoute> ws_;
};

}  // namespace vox::net
