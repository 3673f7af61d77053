// The WebSocket client (ws:// and wss://): one reader, one writer, close codes kept.
#include "net/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <random>

#include "net/client_detail.hpp"
#include "net/ws_write_queue.hpp"

namespace vox::net {
using namespace detail;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Kind = TransportError::Kind;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------------------
// WebSocket client

namespace {

void close_lowest(beast::tcp_stream& s) {
  beast::error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  s.socket().close(ec);
}

constexpr std::chrono::milliseconds kCloseTimeout{2000};

template <typename NextLayer>
class WsClientImpl final : public WsClient, public std::enable_shared_from_this<WsClientImpl<NextLayer>> {
 public:
  template <typename... Args>
  explicit WsClientImpl(Args&&... args) : ws_(std::forward<Args>(args)...) {}

  asio::awaitable<void> open(const ParsedUrl& u, const Headers& headers, const TlsOptions& tls,
                             std::chrono::milliseconds timeout, std::chrono::milliseconds idle) {
    idle_ = idle;
    tcp::resolver resolver(ws_.get_executor());
    auto [rec, results] = co_await resolver.async_resolve(u.host, u.port, kTuple);
    if (rec) throw TransportError(Kind::kConnect, "cannot resolve " + u.host + ": " + rec.message());
    auto& lowest = beast::get_lowest_layer(ws_);
    lowest.expires_after(timeout);
    auto [cec, ep] = co_await lowest.async_connect(results, kTuple);
    if (cec) throw TransportError(Kind::kConnect, "cannot connect to " + u.host + ":" + u.port + ": " + cec.message());
    lowest.socket().set_option(tcp::no_delay(true));
    if constexpr (!std::is_same_v<NextLayer, beast::tcp_stream>) {
      prepare_tls(ws_.next_layer().native_handle(), u.host, tls.verify);
      auto [hec] = co_await ws_.next_layer().async_handshake(ssl::stream_base::client, kTuple);
      if (hec) throw TransportError(Kind::kTls, "TLS handshake with " + u.host + ":" + u.port + " failed: " + hec.message());
    } else {
      (void)tls;
    }
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      req.set(http::field::user_agent, "voxbridge/0.1");
      for (const auto& [k, v] : headers) req.set(k, v);
    }));
    ws_.read_message_max(8 * 1024 * 1024);
    websocket::response_type res;
    auto [hec] = co_await ws_.async_handshake(res, host_header(u), u.target, kTuple);
    if (hec) {
      std::string detail = res.result_int() ? " (HTTP " + std::to_string(res.result_int()) + ")" : "";
      if (!res.body().empty()) detail += ": " + res.body().substr(0, 300);
      throw TransportError(hec == beast::error::timeout ? Kind::kTimeout : Kind::kProtocol,
                           "websocket handshake with " + u.host + u.target.substr(0, u.target.find('?')) +
                               " failed: " + hec.message() + detail);
    }
    lowest.expires_never();
    // Pings when idle, and a dead peer is noticed (a half-open socket would otherwise
    // look alive forever). Beast can do this itself, but it re-arms a timer on every
    // read (a timer cancel and a cancelled handler per message); here one timer wakes
    // once per half idle period instead (arm_keep_alive).
    websocket::stream_base::timeout to = websocket::stream_base::timeout::suggested(beast::role_type::client);
    to.idle_timeout = websocket::stream_base::none();
    ws_.set_option(to);
    ws_.control_callback([this](websocket::frame_type, beast::string_view) { last_heard_ = Clock::now(); });
    last_heard_ = Clock::now();
    arm_keep_alive();
  }

  asio::awaitable<std::optional<std::string>> read() override {
    buffer_.clear();
    auto read_token = asio::bind_cancellation_slot(read_cancel_.slot(), kTuple);
    auto [ec, n] = co_await ws_.async_read(buffer_, read_token);
    last_heard_ = Clock::now();
    if (ec) {
      closed_ = true;
      keep_alive_.cancel();
      close_timer_.cancel();
      co_return std::nullopt;
    }
    co_return beast::buffers_to_string(buffer_.data());
  }

  bool got_binary() const override { return ws_.got_binary(); }

  void send(std::string message) override {
    if (closed_) return;
    writer_.push(std::move(message), this->shared_from_this());
  }

  void send_copy(std::string_view message) override {
    if (closed_) return;
    writer_.push_copy(message, this->shared_from_this());
  }

  void send_binary_copy(std::string_view message) override {
    if (closed_) return;
    writer_.push_copy(message, this->shared_from_this(), true);
  }

  void close() override {
    if (closed_ || writer_.close_requested()) return;
    writer_.close(websocket::close_code::normal, this->shared_from_this());
    // The closing handshake is bounded: a peer that has not completed it is dropped.
    close_timer_.expires_after(kCloseTimeout);
    std::weak_ptr<WsClientImpl> weak = this->shared_from_this();
    close_timer_.async_wait([weak](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_) return;
      spdlog::info("websocket peer did not complete the close handshake within {} ms; dropping the connection",
                   kCloseTimeout.count());
      self->abort();
    });
  }

  void abort() override {
    closed_ = true;
    keep_alive_.cancel();
    close_timer_.cancel();
    close_lowest(beast::get_lowest_layer(ws_));
    // A read and a close waiting on each other inside Beast have no socket operation that
    // closing the socket would end: both are cancelled too.
    read_cancel_.emit(asio::cancellation_type::terminal);
    writer_.abandon_close();
  }

  int close_code() const override { return static_cast<int>(ws_.reason().code); }
  std::string close_reason() const override { return std::string(ws_.reason().reason.c_str()); }
  asio::any_io_executor executor() override { return ws_.get_executor(); }

 private:
  using Clock = std::chrono::steady_clock;

  // Half an idle period with nothing heard: a ping; a whole one: the connection is
  // dropped (the read in progress ends). One wake-up per half period, not per message.
  void arm_keep_alive() {
    if (closed_) return;
    const bool pinged = pinged_for_ == last_heard_;  // a ping already went out for this silence
    keep_alive_.expires_at(last_heard_ + (pinged ? idle_ : idle_ / 2));
    std::weak_ptr<WsClientImpl> weak = this->shared_from_this();
    keep_alive_.async_wait([weak](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_) return;
      const auto silent = Clock::now() - self->last_heard_;
      if (silent >= self->idle_) {
        spdlog::warn("websocket peer silent for {} s, no answer to a ping; dropping the connection",
                     std::chrono::duration_cast<std::chrono::milliseconds>(silent).count() / 1000.0);
        self->abort();
        return;
      }
      if (silent >= self->idle_ / 2 && self->pinged_for_ != self->last_heard_) {
        self->pinged_for_ = self->last_heard_;
        self->writer_.ping(self);
      }
      self->arm_keep_alive();
    });
  }

  websocket::stream<NextLayer> ws_;
  WsWriteQueue<websocket::stream<NextLayer>> writer_{ws_};
  beast::flat_buffer buffer_;
  asio::steady_timer keep_alive_{ws_.get_executor()};
  asio::steady_timer close_timer_{ws_.get_executor()};
  asio::cancellation_signal read_cancel_;
  Clock::time_point last_heard_ = Clock::now();
  std::chrono::milliseconds idle_{20000};  // nothing heard this long: the peer is gone
  Clock::time_point pinged_for_{};  // last_heard_ when the last keep-alive ping went out
  bool closed_ = false;
};

}  // namespace

namespace {
asio::awaitable<std::shared_ptr<WsClient>> ws_connect(std::string url, Headers headers, TlsOptions tls,
                                                     std::chrono::milliseconds timeout, std::chrono::milliseconds idle) {
  auto u = parse_url(url);
  if (!u || (u->scheme != "ws" && u->scheme != "wss")) throw TransportError(Kind::kProtocol, "not a ws(s) URL: " + url);
  auto exec = co_await asio::this_coro::executor;
  if (u->secure()) {
    auto ctx = tls_context(tls);
    auto client = std::make_shared<WsClientImpl<beast::ssl_stream<beast::tcp_stream>>>(exec, *ctx);
    co_await client->open(*u, headers, tls, timeout, idle);
    co_return client;
  }
  auto client = std::make_shared<WsClientImpl<beast::tcp_stream>>(exec);
  co_await client->open(*u, headers, tls, timeout, idle);
  co_return client;
}

}  // namespace

// Not a coroutine, for the same reason as http_request().
asio::awaitable<std::shared_ptr<WsClient>> WsClient::connect(std::string url, Headers headers, TlsOptions tls,
                                                             std::chrono::milliseconds timeout,
                                                             std::chrono::milliseconds idle) {
  return ws_connect(std::move(url), std::move(headers), std::move(tls), timeout, idle);
}

}  // namespace vox::net
