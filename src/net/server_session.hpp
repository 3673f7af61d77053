#pragma once
// One connection of the server, as templates over the stream (plain TCP or TLS):
// the HTTP request loop (with its limits, streaming responses and HEAD), and the
// WebSocket session a request may upgrade to (a read loop and a single writer, both on
// the connection's strand). Included by server_plain.cpp and server_tls.cpp only, so
// each instantiation compiles in its own translation unit.
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include "net/server_impl.hpp"

namespace vox::net::detail {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Request and response conversions and small helpers (server_session.cpp).
HttpRequest to_request(const http::request<http::string_body>& req, std::string remote);
void set_headers(http::response_header<>& out, const HttpResponse& res);
http::response<http::string_body> to_beast(const HttpResponse& res, unsigned version, bool keep_alive);
// The status a malformed request earns (0: the connection closed or idled; say nothing).
// A header over the limit is 431, or 414 (URL too long) when the limit was reached before
// the request line ended (`request_line_read` false).
int malformed_status(const beast::error_code& ec, bool request_line_read = true);
// The status a request's Transfer-Encoding earns, 0 when it is fine (none, or a lone
// "chunked"; `chunked` is whether the parser read the body as chunked). A list that does
// not end in chunked leaves the body's length unknown (RFC 9112 6.3): 400 and close, or
// the body would be read as the next request (request smuggling). Codings before chunked
// are not implemented: 501.
int transfer_encoding_status(const http::request<http::string_body>& req, bool chunked);
// Whether the calling thread runs `ex`'s strand now.
bool on_strand(const asio::any_io_executor& ex);

inline tcp::socket& lowest_socket(tcp::socket& s) { return s; }
inline tcp::socket& lowest_socket(beast::tcp_stream& s) { return s.socket(); }
inline tcp::socket& lowest_socket(beast::ssl_stream<beast::tcp_stream>& s) { return beast::get_lowest_layer(s).socket(); }

inline void close_now(tcp::socket& socket) {
  beast::error_code ec;
  socket.set_option(asio::socket_base::linger(true, 0), ec);
  socket.close(ec);
}

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
    close_now(lowest_socket(stream_));
  }
  bool failed() const { return failed_; }
  bool was_reset() const { return reset_; }

 private:
  Stream& stream_;
  bool failed_ = false;
  bool reset_ = false;
};

// Runs the WebSocket a request upgraded to (ws_session_plain.cpp, ws_session_tls.cpp: each
// stream type's WebSocket compiles in its own file).
asio::awaitable<void> run_websocket(Server::Impl& impl, std::uint64_t id, beast::tcp_stream&& stream,
                                    std::unique_ptr<WsHandler> handler, std::string remote,
                                    http::request<http::string_body> upgrade);
asio::awaitable<void> run_websocket(Server::Impl& impl, std::uint64_t id, beast::ssl_stream<beast::tcp_stream>&& stream,
                                    std::unique_ptr<WsHandler> handler, std::string remote,
                                    http::request<http::string_body> upgrade);

// Keeps a connection in the server's registry for its lifetime.
struct Registration {
  Server::Impl& impl;
  std::uint64_t id;
  ~Registration() { impl.remove(id); }
};

// The HTTP request loop of one connection (and its upgrade to a WebSocket).
template <typename Stream>
asio::awaitable<void> serve(std::shared_ptr<Server::Impl> self, Stream& stream, std::string remote) {
  Server::Impl& impl = *self;
  // What shutdown may do to this connection, on its strand: while it waits for the next
  // request, close it; at the deadline, drop it. `state` says whether the stream is still
  // there (touched on the strand only).
  struct State {
    bool reading = false;
    bool alive = true;
    bool upgraded = false;  // the stream moved into a WebSocket session
  };
  auto state = std::make_shared<State>();
  struct Gone {
    State& s;
    ~Gone() { s.alive = false; }
  } gone{*state};
  auto ex = stream.get_executor();
  Server::Impl::Entry entry;
  entry.close_if_idle = [state, ex, &stream] {
    asio::post(ex, [state, &stream] {
      if (state->alive && state->reading) beast::get_lowest_layer(stream).cancel();
    });
  };
  entry.abort = [state, ex, &stream] {
    asio::post(ex, [state, &stream] {
      if (state->alive && !state->upgraded) close_now(lowest_socket(stream));
    });
  };
  entry.remote = remote;
  Registration reg{impl, impl.add(entry)};
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(impl.limits.max_http_body);
    parser.header_limit(static_cast<std::uint32_t>(impl.limits.max_http_header));
    beast::get_lowest_layer(stream).expires_after(impl.limits.http_idle);
    if (impl.stopping && buffer.size() == 0) break;  // shutting down: no new request
    state->reading = true;
    if (!first) impl.set_doing(reg.id, {});
    first = false;
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
    state->reading = false;
    if (ec == http::error::body_limit) {
      auto res = to_beast(HttpResponse::error(413, "Request body exceeds " + std::to_string(impl.limits.max_http_body) + " bytes"), 11, false);
      co_await http::async_write(stream, res, kTuple);
      // Lingering close: stop sending, then read and discard what the client is still
      // sending (bounded), so the kernel does not reset the connection and lose our answer.
      beast::error_code sec;
      lowest_socket(stream).shutdown(tcp::socket::shutdown_send, sec);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
      // On the heap: an array here would sit in every connection's coroutine frame, 16 KB
      // per call for the life of its media socket.
      std::vector<char> sink(16384);
      for (std::size_t drained = 0; drained < 8 * impl.limits.max_http_body;) {
        auto [dec, dn] = co_await beast::get_lowest_layer(stream).async_read_some(asio::buffer(sink), kTuple);
        if (dec) break;
        drained += dn;
      }
      co_return;
    }
    if (ec) {
      // Malformed framing gets a status before the close, as HTTP servers answer it;
      // a closed or idle connection gets nothing.
      // (The parser fills in the target once it has read the whole request line.)
      const int status = malformed_status(ec, !parser.get().target().empty());
      if (status != 0) {
        spdlog::debug("bad http request remote={} error={} -> {}", remote, ec.message(), status);
        auto res = to_beast(HttpResponse::error(status, status == 431   ? "Request header fields too large"
                                                        : status == 414 ? "Request URL too long"
                                                                        : "Malformed HTTP request: " + ec.message()),
                            11, false);
        co_await http::async_write(stream, res, kTuple);
      }
      break;
    }
    if (const int te_status = transfer_encoding_status(parser.get(), parser.chunked()); te_status != 0) {
      // Answered and closed before the body (if any) could be taken for another request.
      spdlog::debug("bad http request remote={} error=unusable Transfer-Encoding -> {}", remote, te_status);
      auto res = to_beast(HttpResponse::error(te_status, te_status == 400
                                                             ? "Transfer-Encoding must end in chunked"
                                                             : "Only the chunked transfer coding is supported"),
                          11, false);
      co_await http::async_write(stream, res, kTuple);
      break;
    }
    auto& req = parser.get();
    HttpRequest r = to_request(req, remote);
    impl.set_doing(reg.id, r.method + " " + std::string(impl.router.loggable_path(r.path)));

    if (websocket::is_upgrade(req)) {
      const WsFactory* factory = impl.router.find_ws(r.path, &r.path_params);
      HttpResponse reject = HttpResponse::error(404, "No WebSocket endpoint at " + r.path);
      std::unique_ptr<WsHandler> handler;
      if (factory && !impl.stopping) {
        reject = HttpResponse::error(403, "Forbidden");
        try {
          handler = (*factory)(r, reject);
        } catch (const std::exception& e) {
          spdlog::error("ws factory threw path={} error={}", impl.router.loggable_path(r.path), e.what());
          reject = HttpResponse::error(500, "Internal server error");
        }
      } else if (impl.stopping) {
        reject = HttpResponse::error(503, "Server is shutting down");
      }
      if (!handler) {
        spdlog::warn("ws upgrade refused path={} status={} remote={}", impl.router.loggable_path(r.path), reject.status,
                     remote);
        auto res = to_beast(reject, req.version(), false);
        co_await http::async_write(stream, res, kTuple);
        break;
      }
      beast::get_lowest_layer(stream).expires_never();
      state->upgraded = true;
      auto upgrade = parser.release();
      co_await run_websocket(impl, reg.id, std::move(stream), std::move(handler), remote, std::move(upgrade));
      co_return;
    }

    bool path_known = false;
    const HttpHandler* handler = impl.router.find(r.method, r.path, path_known, &r.path_params);
    // HEAD is answered as GET without the body (load balancers' health checks).
    const bool head = r.method == "HEAD";
    if (!handler && head) handler = impl.router.find("GET", r.path, path_known, &r.path_params);
    HttpResponse response;
    if (!handler) {
      response = path_known ? HttpResponse::error(405, "Method " + r.method + " not allowed on " + r.path)
                            : HttpResponse::error(404, "Not found: " + r.path);
    } else {
      try {
        response = co_await (*handler)(r);
      } catch (const std::exception& e) {
        spdlog::error("handler threw method={} path={} error={}", r.method, impl.router.loggable_path(r.path), e.what());
        response = HttpResponse::error(500, "Internal server error");
      }
    }
    spdlog::debug("http {} {} -> {} remote={}", r.method, impl.router.loggable_path(r.path), response.status, remote);
    const bool keep_alive = req.keep_alive() && !impl.stopping;
    if (response.stream) {
      // Chunked body produced by the handler's coroutine.
      http::response<http::empty_body> head_only{static_cast<http::status>(response.status), req.version()};
      set_headers(head_only.base(), response);
      head_only.keep_alive(keep_alive);
      head_only.chunked(true);
      http::response_serializer<http::empty_body> sr{head_only};
      beast::get_lowest_layer(stream).expires_never();
      auto [hec, hn] = co_await http::async_write_header(stream, sr, kTuple);
      if (hec) break;
      ChunkWriter<Stream> writer(stream);
      try {
        co_await response.stream(writer);
      } catch (const std::exception& e) {
        spdlog::error("streaming handler threw path={} error={}", impl.router.loggable_path(r.path), e.what());
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
    // http_idle bounds a write that makes no progress, not the whole response: a large
    // body to a slow but reading client is written piece by piece, the deadline re-armed
    // for each (it was also armed before the handler ran, which may have taken a while).
    http::response_serializer<http::string_body> sr{res};
    beast::error_code wec;
    while (!wec && !sr.is_done()) {
      beast::get_lowest_layer(stream).expires_after(impl.limits.http_idle);
      auto [ec, n] = co_await http::async_write_some(stream, sr, kTuple);
      wec = ec;
    }
    if (wec || !keep_alive) break;
  }
  beast::error_code sec;
  lowest_socket(stream).shutdown(tcp::socket::shutdown_send, sec);
}

}  // namespace vox::net::detail
