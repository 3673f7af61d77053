#include "net/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include "net/ws_write_queue.hpp"

namespace vox::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

HttpRequest to_request(const http::request<http::string_body>& req, std::string remote) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.remote = std::move(remote);
  auto origin = boost::urls::parse_origin_form(req.target());
  if (origin) {
    r.path = origin->path();
    r.query = std::string(origin->encoded_query());
  } else {
    r.path = r.target.substr(0, r.target.find('?'));
  }
  for (const auto& f : req) r.headers[std::string(f.name_string())] = std::string(f.value());
  r.body = req.body();
  return r;
}

template <typename Message>
void set_headers(Message& out, const HttpResponse& res) {
  out.set(http::field::server, "voxbridge");
  out.set(http::field::content_type, res.content_type);
  for (const auto& [k, v] : res.headers) out.set(k, v);
}

http::response<http::string_body> to_beast(const HttpResponse& res, unsigned version, bool keep_alive) {
  http::response<http::string_body> out{static_cast<http::status>(res.status), version};
  set_headers(out, res);
  out.body() = res.body;
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

tcp::socket& lowest_socket(beast::tcp_stream& s) { return s.socket(); }
tcp::socket& lowest_socket(beast::ssl_stream<beast::tcp_stream>& s) { return beast::get_lowest_layer(s).socket(); }

// Writes a chunked body on an HTTP stream for a streaming response.
template <typename Stream>
class ChunkWriter final : public BodyWriter {
 public:
  explicit ChunkWriter(Stream& stream) : stream_(stream) {}
  asio::awaitable<bool> write(std::string_view chunk) override {
    if (failed_) co_return false;
    if (chunk.empty()) co_return true;
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk(asio::buffer(chunk.data(), chunk.size())), kTuple);
    if (ec) failed_ = true;
    co_return !failed_;
  }
  void reset() override {
    failed_ = true;
    reset_ = true;
    beast::error_code ec;
    lowest_socket(stream_).set_option(asio::socket_base::linger(true, 0), ec);
    lowest_socket(stream_).close(ec);
  }
  bool failed() const { return failed_; }
  bool was_reset() const { return reset_; }

 private:
  Stream& stream_;
  bool failed_ = false;
  bool reset_ = false;
};

// The status a malformed request earns (0: the connection closed or idled; say nothing).
int malformed_status(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == http::error::partial_message)
    return 0;
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) return 400;
  return 0;
}

}  // namespace

// Whether the calling thread is running `ex`'s strand now (connections run on strands of
// the server's io_context).
static bool on_strand(const asio::any_io_executor& ex) {
  const auto* strand = ex.target<asio::strand<asio::io_context::executor_type>>();
  return strand && strand->running_in_this_thread();
}

// One WebSocket connection: a read loop coroutine and a single writer, both on the
// connection's strand.
template <typename NextLayer>
class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession<NextLayer>> {
 public:
  WsSession(NextLayer&& stream, std::unique_ptr<WsHandler> handler, const ServerLimits& limits, std::string remote)
      : ws_(std::move(stream)), handler_(std::move(handler)), max_queue_(limits.max_ws_queue), remote_(std::move(remote)) {
    ws_.read_message_max(limits.max_ws_frame_hard);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "voxbridge"); }));
  }

  asio::awaitable<void> run(http::request<http::string_body> upgrade) {
    auto [ec] = co_await ws_.async_accept(upgrade, kTuple);
    if (ec) {
      spdlog::warn("ws handshake failed remote={} error={}", remote_, ec.message());
      finish("handshake failed");
      co_return;
    }
    handler_->on_open(this->shared_from_this());
    beast::flat_buffer buffer;
    std::string reason = "closed";
    for (;;) {
      auto [rec, n] = co_await ws_.async_read(buffer, kTuple);
      if (rec) {
        if (rec == websocket::error::closed) {
          reason = "closed by peer";
        } else if (rec == websocket::error::message_too_big) {
          reason = "message too big";
          spdlog::warn("ws message over {} bytes; closing remote={}", ws_.read_message_max(), remote_);
        } else if (rec == asio::error::operation_aborted) {
          reason = "aborted";
        } else {
          reason = rec.message();
        }
        break;
      }
      const auto data = buffer.cdata();
      std::string_view msg(static_cast<const char*>(data.data()), data.size());
      try {
        if (ws_.got_text()) handler_->on_text(msg);
        else handler_->on_binary(msg);
      } catch (const std::exception& e) {
        spdlog::error("ws handler threw remote={} error={}", remote_, e.what());
      }
      buffer.consume(n);
    }
    finish(reason);
  }

  void send_text(std::string message) override {
    // From the connection's own strand (the call's media path) the message is queued at
    // once; from anywhere else it is posted there.
    if (on_strand(ws_.get_executor())) return push(std::move(message));
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), m = std::move(message)]() mutable {
      self->push(std::move(m));
    });
  }

  void close(std::uint16_t code, std::string reason) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), code, r = std::move(reason)] {
      if (self->closed_) return;
      self->writer_.close(websocket::close_reason(static_cast<websocket::close_code>(code), r), self);
    });
  }

  void abort() override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
      beast::error_code ec;
      auto& sock = beast::get_lowest_layer(self->ws_).socket();
      sock.set_option(asio::socket_base::linger(true, 0), ec);
      sock.close(ec);
    });
  }

  asio::any_io_executor executor() override { return ws_.get_executor(); }
  std::string_view remote() const override { return remote_; }

  std::function<void()> on_finished;

 private:
  void push(std::string message) {
    if (closed_ || writer_.close_requested()) return;
    if (writer_.size() >= max_queue_) {
      spdlog::warn("ws peer not reading; {} messages queued, closing remote={}", writer_.size(), remote_);
      writer_.drop_pending();
      writer_.close(websocket::close_reason(websocket::close_code::policy_error, "send queue overflow"),
                    this->shared_from_this());
      return;
    }
    writer_.push(std::move(message), this->shared_from_this());
  }

  void finish(std::string_view reason) {
    if (closed_) return;
    closed_ = true;
    writer_.drop_pending();
    try {
      handler_->on_close(reason);
    } catch (const std::exception& e) {
      spdlog::error("ws on_close threw remote={} error={}", remote_, e.what());
    }
    // The handler usually holds a shared_ptr to this connection; dropping it here breaks
    // that cycle so the connection, the handler and the call are freed.
    handler_.reset();
    if (on_finished) on_finished();
  }

  websocket::stream<NextLayer> ws_;
  WsWriteQueue<websocket::stream<NextLayer>> writer_{ws_};
  std::unique_ptr<WsHandler> handler_;
  std::size_t max_queue_;
  std::string remote_;
  bool closed_ = false;
};

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  asio::io_context& ioc;
  Router router;
  ServerLimits limits;
  std::unique_ptr<ssl::context> tls;
  tcp::acceptor acceptor;
  std::atomic<std::size_t> connections{0};
  std::vector<asio::io_context*> contexts;  // where accepted connections run (empty: ioc)
  std::size_t next_context = 0;             // used on the acceptor's strand only
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::map<std::uint64_t, std::weak_ptr<WsConnection>> websockets;
  std::uint64_t next_id = 0;

  Impl(asio::io_context& io, Router r, ServerLimits l, const std::optional<ServerTls>& t)
      : ioc(io), router(std::move(r)), limits(l), acceptor(asio::make_strand(io)) {
    if (t) {
      tls = std::make_unique<ssl::context>(ssl::context::tls_server);
      tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      tls->use_certificate_chain_file(t->cert_file);
      tls->use_private_key_file(t->key_file, ssl::context::pem);
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      asio::io_context* home = &ioc;
      if (!contexts.empty()) home = contexts[next_context++ % contexts.size()];
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(*home), kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        spdlog::warn("accept failed: {}", ec.message());
        continue;
      }
      // Media frames are small and latency-bound: no Nagle delay behind an unacknowledged write.
      boost::system::error_code nodelay_ec;
      socket.set_option(tcp::no_delay(true), nodelay_ec);
      if (connections.load() >= limits.max_connections) {
        spdlog::warn("connection limit {} reached; refusing a connection", limits.max_connections);
        continue;  // the socket closes as it goes out of scope
      }
      auto exec = socket.get_executor();
      asio::co_spawn(exec, http_session(shared_from_this(), std::move(socket)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("http session ended by exception: {}", ex.what());
        }
      });
    }
  }

  // `self` keeps this Impl alive as long as the connection's coroutine frame exists
  // (including when an io_context being destroyed destroys a suspended frame).
  asio::awaitable<void> http_session(std::shared_ptr<Impl> self, tcp::socket socket) {
    (void)self;
    ++connections;
    struct Guard {
      std::atomic<std::size_t>& c;
      ~Guard() { --c; }
    } guard{connections};
    beast::error_code rec;
    const auto ep = socket.remote_endpoint(rec);
    std::string remote = rec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
      auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
      if (ec) {
        spdlog::debug("tls handshake failed remote={} error={}", remote, ec.message());
        co_return;
      }
      co_await serve(stream, remote);
    } else {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, remote);
    }
  }

  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream, const std::string& remote) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(limits.max_http_body);
      parser.header_limit(static_cast<std::uint32_t>(limits.max_http_header));
      beast::get_lowest_layer(stream).expires_after(limits.http_idle);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
      if (ec == http::error::body_limit) {
        auto res = to_beast(HttpResponse::error(413, "Request body exceeds " + std::to_string(limits.max_http_body) + " bytes"), 11, false);
        co_await http::async_write(stream, res, kTuple);
        // Lingering close: stop sending, then read and discard what the client is still
        // sending (bounded), so the kernel does not reset the connection and lose our answer.
        beast::error_code sec;
        lowest_socket(stream).shutdown(tcp::socket::shutdown_send, sec);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        std::array<char, 16384> sink;
        for (std::size_t drained = 0; drained < 8 * limits.max_http_body;) {
          auto [dec, dn] = co_await beast::get_lowest_layer(stream).async_read_some(asio::buffer(sink), kTuple);
          if (dec) break;
          drained += dn;
        }
        co_return;
      }
      if (ec) {
        // Malformed framing gets a status before the close, as HTTP servers answer it;
        // a closed or idle connection gets nothing.
        const int status = malformed_status(ec);
        if (status != 0) {
          spdlog::debug("bad http request remote={} error={} -> {}", remote, ec.message(), status);
          auto res = to_beast(HttpResponse::error(status, status == 431 ? "Request header fields (or URL) too large"
                                                                          : "Malformed HTTP request: " + ec.message()),
                              11, false);
          co_await http::async_write(stream, res, kTuple);
        }
        break;
      }
      auto& req = parser.get();
      HttpRequest r = to_request(req, remote);

      if (websocket::is_upgrade(req)) {
        const WsFactory* factory = router.find_ws(r.path, &r.path_params);
        HttpResponse reject = HttpResponse::error(404, "No WebSocket endpoint at " + r.path);
        std::unique_ptr<WsHandler> handler;
        if (factory && !stopping) {
          reject = HttpResponse::error(403, "Forbidden");
          try {
            handler = (*factory)(r, reject);
          } catch (const std::exception& e) {
            spdlog::error("ws factory threw path={} error={}", router.loggable_path(r.path), e.what());
            reject = HttpResponse::error(500, "Internal server error");
          }
        } else if (stopping) {
          reject = HttpResponse::error(503, "Server is shutting down");
        }
        if (!handler) {
          spdlog::warn("ws upgrade refused path={} status={} remote={}", router.loggable_path(r.path), reject.status, remote);
          auto res = to_beast(reject, req.version(), false);
          co_await http::async_write(stream, res, kTuple);
          break;
        }
        beast::get_lowest_layer(stream).expires_never();
        auto session = std::make_shared<WsSession<Stream>>(std::move(stream), std::move(handler), limits, remote);
        std::uint64_t id;
        {
          std::lock_guard lock(mu);
          id = next_id++;
          websockets[id] = session;
        }
        session->on_finished = [self = shared_from_this(), id] {
          std::lock_guard lock(self->mu);
          self->websockets.erase(id);
        };
        co_await session->run(parser.release());
        co_return;
      }

      bool path_known = false;
      const HttpHandler* handler = router.find(r.method, r.path, path_known, &r.path_params);
      // HEAD is answered as GET without the body (load balancers' health checks).
      const bool head = r.method == "HEAD";
      if (!handler && head) handler = router.find("GET", r.path, path_known, &r.path_params);
      HttpResponse response;
      if (!handler) {
        response = path_known ? HttpResponse::error(405, "Method " + r.method + " not allowed on " + r.path)
                              : HttpResponse::error(404, "Not found: " + r.path);
      } else {
        try {
          response = co_await (*handler)(r);
        } catch (const std::exception& e) {
          spdlog::error("handler threw method={} path={} error={}", r.method, router.loggable_path(r.path), e.what());
          response = HttpResponse::error(500, "Internal server error");
        }
      }
      spdlog::debug("http {} {} -> {} remote={}", r.method, router.loggable_path(r.path), response.status, remote);
      const bool keep_alive = req.keep_alive() && !stopping;
      if (response.stream) {
        // Chunked body produced by the handler's coroutine.
        http::response<http::empty_body> head{static_cast<http::status>(response.status), req.version()};
        set_headers(head, response);
        head.keep_alive(keep_alive);
        head.chunked(true);
        http::response_serializer<http::empty_body> sr{head};
        beast::get_lowest_layer(stream).expires_never();
        auto [hec, hn] = co_await http::async_write_header(stream, sr, kTuple);
        if (hec) break;
        ChunkWriter<Stream> writer(stream);
        try {
          co_await response.stream(writer);
        } catch (const std::exception& e) {
          spdlog::error("streaming handler threw path={} error={}", router.loggable_path(r.path), e.what());
          writer.reset();
        }
        if (writer.was_reset()) co_return;
        if (writer.failed()) break;
        auto [lec, ln] = co_await asio::async_write(stream, http::make_chunk_last(), kTuple);
        if (lec || !keep_alive) break;
        continue;
      }
      auto res = to_beast(response, req.version(), keep_alive);
      if (head) {
        res.body().clear();
        res.content_length(response.body.size());
      }
      beast::get_lowest_layer(stream).expires_after(limits.http_idle);  // the handler may have taken a while
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !keep_alive) break;
    }
    beast::error_code sec;
    lowest_socket(stream).shutdown(tcp::socket::shutdown_send, sec);
  }
};

Server::Server(asio::io_context& ioc, Router router, ServerLimits limits, std::optional<ServerTls> tls)
    : impl_(std::make_shared<Impl>(ioc, std::move(router), limits, tls)) {}

Server::~Server() = default;

void Server::spread_connections(std::vector<asio::io_context*> contexts) { impl_->contexts = std::move(contexts); }

std::uint16_t Server::listen(const std::string& host, std::uint16_t port) {
  const auto address = asio::ip::make_address(host);
  tcp::endpoint ep(address, port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  const auto bound = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->acceptor.get_executor(), [impl = impl_]() { return impl->accept_loop(); }, asio::detached);
  return bound;
}

void Server::shutdown() {
  impl_->stopping = true;
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  std::vector<std::shared_ptr<WsConnection>> live;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, weak] : impl_->websockets)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->close(static_cast<std::uint16_t>(websocket::close_code::going_away), "server shutting down");
}

std::size_t Server::open_websockets() const {
  std::lock_guard lock(impl_->mu);
  return impl_->websockets.size();
}

std::size_t Server::open_connections() const { return impl_->connections.load(); }

asio::awaitable<bool> Server::wait_websockets_closed(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (open_websockets() > 0) {
    if (std::chrono::steady_clock::now() >= until) co_return false;
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(kTuple);
  }
  co_return true;
}

}  // namespace vox::net
