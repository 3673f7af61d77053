#pragma once
// The server's shared state (private to net/): the acceptor, the router, and a registry
// of open connections so shutdown can reach each one. A connection's coroutine runs in
// server_session.hpp, instantiated once for plain TCP and once for TLS in two files.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "core/countdown.hpp"
#include "net/server.hpp"

namespace vox::net {

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(boost::asio::io_context& io, Router r, ServerLimits l, const std::optional<ServerTls>& t);

  // What shutdown can do to one open connection (each runs on the connection's strand).
  struct Entry {
    std::function<void()> close_if_idle;  // HTTP: end a keep-alive wait for the next request
    std::function<void()> go_away;        // WebSocket: close 1001
    std::function<void()> abort;          // close the socket now
    std::function<void()> report;         // log where it stands (shutdown's report)
    bool websocket = false;
    std::string remote;  // the peer, for the shutdown report
    std::string doing;   // what it is busy with (a request line, a WebSocket path), or empty
  };
  std::uint64_t add(Entry e);
  void update(std::uint64_t id, Entry e);
  void remove(std::uint64_t id);
  // What the connection is busy with, for the shutdown report ("" when idle).
  void set_doing(std::uint64_t id, std::string doing);
  std::vector<std::string> describe_open() const;

  boost::asio::awaitable<void> accept_loop();
  std::size_t open_connections() const;
  // One connection: TLS handshake if configured, then HTTP requests (and an upgrade).
  boost::asio::awaitable<void> session(std::shared_ptr<Impl> self, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc;
  std::vector<boost::asio::io_context*> spread;  // where accepted connections go (empty: ioc)
  std::size_t next_context = 0;
  Router router;
  ServerLimits limits;
  std::unique_ptr<boost::asio::ssl::context> tls;
  boost::asio::ip::tcp::acceptor acceptor;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::map<std::uint64_t, Entry> open;  // guarded by mu
  std::uint64_t next_id = 0;            // guarded by mu
  std::size_t websockets = 0;           // guarded by mu
  std::shared_ptr<Countdown> idle_waiter;  // set by wait_idle(); guarded by mu
};

// The HTTP session loop over plain TCP and over TLS (server_plain.cpp, server_tls.cpp).
boost::asio::awaitable<void> serve_plain(std::shared_ptr<Server::Impl> self, boost::asio::ip::tcp::socket socket,
                                         std::string remote);
boost::asio::awaitable<void> serve_tls(std::shared_ptr<Server::Impl> self, boost::asio::ip::tcp::socket socket,
                                       std::string remote);

}  // namespace vox::net
