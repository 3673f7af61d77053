#pragma once
// HTTP/1.1 and WebSocket on one port: a listener, one coroutine per connection, one
// writer per WebSocket. Handlers come from a Router. Shutdown stops accepting, closes
// WebSockets (1001), lets requests in flight be answered and closes idle keep-alive
// connections; wait_idle() completes when no connection is left.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/router.hpp"

namespace vox::net {

struct ServerLimits {
  std::size_t max_http_body = 1024 * 1024;          // larger bodies get 413
  std::size_t max_http_header = 16 * 1024;          // larger request lines get 414, larger headers 431
  std::size_t max_ws_frame_hard = 1024 * 1024;      // larger messages close the socket (1009)
  std::size_t max_ws_queue = 2048;                  // outbound messages queued before a slow reader is dropped
  std::size_t max_connections = 4096;
  std::chrono::seconds http_idle{30};
  // A WebSocket whose peer sends nothing (not even a ping) for this long is dropped.
  std::chrono::milliseconds ws_idle{std::chrono::seconds(300)};
  // Each io_context the connections run on is run by one thread only (app::Runtime): a
  // connection's handlers are already serialized, so connections get the io_context's
  // executor, not a strand (a strand costs a lock and a queue hop on every handler). Leave
  // false when several threads run one io_context.
  bool single_thread = false;
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

  // Accepted connections go round-robin to these io_contexts (one per network thread)
  // instead of the one the server was built with. Call before listen().
  void spread_connections(std::vector<boost::asio::io_context*> contexts);
  // Binds host:port (port 0 picks a free one), starts accepting; returns the bound port.
  std::uint16_t listen(const std::string& host, std::uint16_t port);
  // Stops accepting, asks every WebSocket to close (1001 going away) and closes idle
  // keep-alive connections; requests being handled are answered, then their
  // connections close. Thread-safe; idempotent.
  void shutdown();
  // Closes every connection at once (after shutdown's deadline). Thread-safe.
  void abort_all();
  // Completes when no connection is open (true) or at `deadline` (false). Run on a strand.
  boost::asio::awaitable<bool> wait_idle(std::chrono::steady_clock::time_point deadline);

  std::size_t open_websockets() const;
  std::size_t open_connections() const;
  // One line per open connection: kind, peer and what it is busy with (shutdown's report).
  std::vector<std::string> describe_open() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace vox::net
