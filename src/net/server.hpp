#pragma once
// HTTP/1.1 and WebSocket on one port: a listener, one coroutine per connection, one
// writer per WebSocket. Handlers come from a Router.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net/router.hpp"

namespace vox::net {

struct ServerLimits {
  std::size_t max_http_body = 1024 * 1024;          // larger bodies get 413
  std::size_t max_http_header = 16 * 1024;
  std::size_t max_ws_frame_hard = 1024 * 1024;       // larger messages close the socket (1009)
  std::size_t max_ws_queue = 2048;                   // outbound messages queued before a slow reader is dropped
  std::size_t max_connections = 4096;
  std::chrono::seconds http_idle{30};
};

// Certificate and key (PEM files) to serve HTTPS/WSS instead of plain TCP.
struct ServerTls {
  std::string cert_file;
  std::string key_file;
};

class Server {
 public:
  Server(boost::asio::io_context& ioc, Router router, ServerLimits limits, std::optional<ServerTls> tls = std::nullopt);
  ~Server();

  // Accepted connections are spread round-robin over these io_contexts (each run by one
  // thread: no lock contention between a connection's handlers); default: the server's
  // own. Call before listen().
  void spread_connections(std::vector<boost::asio::io_context*> contexts);
  // Binds host:port (port 0 picks a free one), starts accepting; returns the bound port.
  std::uint16_t listen(const std::string& host, std::uint16_t port);
  // Stops accepting and asks every WebSocket to close (1001 going away). Thread-safe.
  void shutdown();
  // Completes when no WebSocket is open, or when `deadline` passes; returns true if idle.
  boost::asio::awaitable<bool> wait_websockets_closed(std::chrono::milliseconds deadline);

  std::size_t open_websockets() const;
  std::size_t open_connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace vox::net
