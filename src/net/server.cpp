// The listener and the registry of open connections (see server_impl.hpp); each
// connection's coroutine is in server_session.hpp.
#include "net/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <vector>

#include "core/spawn.hpp"
#include "net/server_impl.hpp"

namespace vox::net {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

Server::Impl::Impl(asio::io_context& io, Router r, ServerLimits l, const std::optional<ServerTls>& t)
    : ioc(io), router(std::move(r)), limits(l), acceptor(asio::make_strand(io)) {
  if (t) {
    tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls->use_certificate_chain_file(t->cert_file);
    tls->use_private_key_file(t->key_file, ssl::context::pem);
  }
}

std::uint64_t Server::Impl::add(Entry e) {
  std::lock_guard lock(mu);
  const auto id = next_id++;
  open.emplace(id, std::move(e));
  if (idle_waiter) idle_waiter->add();
  return id;
}

void Server::Impl::update(std::uint64_t id, Entry e) {
  std::function<void()> go_away;
  {
    std::lock_guard lock(mu);
    auto it = open.find(id);
    if (it == open.end()) return;
    if (e.websocket && !it->second.websocket) ++websockets;
    if (e.remote.empty()) e.remote = std::move(it->second.remote);
    it->second = std::move(e);
    // A socket upgraded while the server was stopping goes away at once.
    if (stopping && it->second.go_away) go_away = it->second.go_away;
  }
  if (go_away) go_away();
}

void Server::Impl::remove(std::uint64_t id) {
  std::lock_guard lock(mu);
  auto it = open.find(id);
  if (it == open.end()) return;
  if (it->second.websocket) --websockets;
  open.erase(it);
  if (idle_waiter) idle_waiter->done();
}

void Server::Impl::set_doing(std::uint64_t id, std::string doing) {
  std::lock_guard lock(mu);
  auto it = open.find(id);
  if (it != open.end()) it->second.doing = std::move(doing);
}

std::vector<std::string> Server::Impl::describe_open() const {
  std::vector<std::string> out;
  std::vector<std::function<void()>> reports;
  {
    std::lock_guard lock(mu);
    for (const auto& [id, e] : open) {
      out.push_back((e.websocket ? "websocket " : "http ") + e.remote + (e.doing.empty() ? " idle" : " " + e.doing));
      if (e.report) reports.push_back(e.report);
    }
  }
  for (auto& r : reports) r();
  return out;
}

asio::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    asio::io_context& home = spread.empty() ? ioc : *spread[next_context++ % spread.size()];
    asio::any_io_executor connection_exec;
    if (limits.single_thread) connection_exec = home.get_executor();
    else connection_exec = asio::make_strand(home);
    auto [ec, socket] = co_await acceptor.async_accept(connection_exec, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    // Media frames are small and latency-bound: no Nagle delay behind an unacknowledged write.
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    if (open_connections() >= limits.max_connections) {
      spdlog::warn("connection limit {} reached; refusing a connection", limits.max_connections);
      continue;  // the socket closes as it goes out of scope
    }
    auto exec = socket.get_executor();
    vox::spawn(exec, session(shared_from_this(), std::move(socket)), "http session");
  }
}

std::size_t Server::Impl::open_connections() const {
  std::lock_guard lock(mu);
  return open.size();
}

// `self` keeps this Impl alive as long as the connection's coroutine frame exists.
asio::awaitable<void> Server::Impl::session(std::shared_ptr<Impl> self, tcp::socket socket) {
  boost::system::error_code rec;
  const auto ep = socket.remote_endpoint(rec);
  std::string remote = rec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  if (self->tls) co_await serve_tls(self, std::move(socket), std::move(remote));
  else co_await serve_plain(self, std::move(socket), std::move(remote));
}

Server::Server(asio::io_context& ioc, Router router, ServerLimits limits, std::optional<ServerTls> tls)
    : impl_(std::make_shared<Impl>(ioc, std::move(router), limits, tls)) {}

Server::~Server() = default;

void Server::spread_connections(std::vector<asio::io_context*> contexts) { impl_->spread = std::move(contexts); }

std::uint16_t Server::listen(const std::string& host, std::uint16_t port) {
  const auto address = asio::ip::make_address(host);
  tcp::endpoint ep(address, port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  const auto bound = impl_->acceptor.local_endpoint().port();
  vox::spawn(impl_->acceptor.get_executor(), [impl = impl_]() { return impl->accept_loop(); }, "accept loop");
  return bound;
}

void Server::shutdown() {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
  std::vector<std::function<void()>> actions;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, e] : impl_->open) {
      if (e.go_away) actions.push_back(e.go_away);
      if (e.close_if_idle) actions.push_back(e.close_if_idle);
    }
  }
  for (auto& a : actions) a();
}

void Server::abort_all() {
  std::vector<std::function<void()>> actions;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, e] : impl_->open)
      if (e.abort) actions.push_back(e.abort);
  }
  for (auto& a : actions) a();
}

asio::awaitable<bool> Server::wait_idle(std::chrono::steady_clock::time_point deadline) {
  auto waiter = std::make_shared<Countdown>(co_await asio::this_coro::executor);
  {
    std::lock_guard lock(impl_->mu);
    waiter->add(static_cast<int>(impl_->open.size()));
    impl_->idle_waiter = waiter;
  }
  const bool idle = co_await waiter->wait_zero(deadline);
  std::lock_guard lock(impl_->mu);
  if (impl_->idle_waiter == waiter) impl_->idle_waiter.reset();
  co_return idle;
}

std::size_t Server::open_websockets() const {
  std::lock_guard lock(impl_->mu);
  return impl_->websockets;
}

std::size_t Server::open_connections() const { return impl_->open_connections(); }

std::vector<std::string> Server::describe_open() const { return impl_->describe_open(); }

}  // namespace vox::net
