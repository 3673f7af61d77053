#include "net/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>

#include "net/ws_write_queue.hpp"
#include <stdexcept>

namespace vox::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::optional<ParsedUrl> parse_url(std::string_view url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return std::nullopt;
  ParsedUrl p;
  p.scheme = std::string(u->scheme());
  p.host = std::string(u->encoded_host());
  if (u->host_type() == boost::urls::host_type::ipv6) p.host = u->host_ipv6_address().to_string();
  p.port = std::string(u->port());
  if (p.port.empty()) p.port = (p.scheme == "https" || p.scheme == "wss") ? "443" : "80";
  p.target = std::string(u->encoded_path());
  if (p.target.empty()) p.target = "/";
  if (u->has_query()) p.target += "?" + std::string(u->encoded_query());
  if (p.host.empty()) return std::nullopt;
  return p;
}

asio::awaitable<HttpResponse> http_request(std::string method, std::string url, Headers headers, std::string body,
                                           std::chrono::milliseconds timeout) {
  auto u = parse_url(url);
  if (!u) throw std::runtime_error("not an absolute URL: " + url);
  if (u->scheme != "http") throw std::runtime_error("only http:// is supported by this client: " + url);
  auto exec = co_await asio::this_coro::executor;
  tcp::resolver resolver(exec);
  auto [rec, results] = co_await resolver.async_resolve(u->host, u->port, kTuple);
  if (rec) throw std::runtime_error("resolve " + u->host + ": " + rec.message());
  beast::tcp_stream stream(exec);
  stream.expires_after(timeout);
  auto [cec, ep] = co_await stream.async_connect(results, kTuple);
  if (cec) throw std::runtime_error("connect " + u->host + ":" + u->port + ": " + cec.message());
  http::request<http::string_body> req{http::string_to_verb(method), u->target, 11};
  req.set(http::field::host, u->host + ":" + u->port);
  req.set(http::field::user_agent, "voxbridge");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, req, kTuple);
  // A server may answer early (e.g. 413) and stop reading our body: still read its answer.
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (ec && wec) throw std::runtime_error("write to " + url + ": " + wec.message());
  if (ec) throw std::runtime_error("read response from " + url + ": " + ec.message());
  auto& res = parser.get();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = std::move(res.body());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  beast::error_code sec;
  stream.socket().shutdown(tcp::socket::shutdown_both, sec);
  co_return out;
}

namespace {

class WsClientImpl final : public WsClient, public std::enable_shared_from_this<WsClientImpl> {
 public:
  explicit WsClientImpl(asio::any_io_executor exec) : ws_(exec) {}

  asio::awaitable<void> open(const ParsedUrl& u, const Headers& headers) {
    tcp::resolver resolver(ws_.get_executor());
    auto [rec, results] = co_await resolver.async_resolve(u.host, u.port, kTuple);
    if (rec) throw std::runtime_error("resolve " + u.host + ": " + rec.message());
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    auto [cec, ep] = co_await beast::get_lowest_layer(ws_).async_connect(results, kTuple);
    if (cec) throw std::runtime_error("connect " + u.host + ":" + u.port + ": " + cec.message());
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      for (const auto& [k, v] : headers) req.set(k, v);
    }));
    ws_.read_message_max(4 * 1024 * 1024);
    websocket::response_type res;
    auto [hec] = co_await ws_.async_handshake(res, u.host + ":" + u.port, u.target, kTuple);
    if (hec) throw std::runtime_error("websocket handshake with " + u.host + u.target + ": " + hec.message() +
                                      " (HTTP " + std::to_string(res.result_int()) + ")");
  }

  asio::awaitable<std::optional<std::string>> read() override {
    buffer_.clear();
    auto [ec, n] = co_await ws_.async_read(buffer_, kTuple);
    if (ec) {
      closed_ = true;
      co_return std::nullopt;
    }
    co_return beast::buffers_to_string(buffer_.data());
  }

  void send(std::string message) override {
    if (closed_) return;
    writer_.push(std::move(message), shared_from_this());
  }

  void close() override {
    if (closed_) return;
    writer_.close(websocket::close_code::normal, shared_from_this());
  }

  void abort() override {
    closed_ = true;
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  int close_code() const override { return static_cast<int>(ws_.reason().code); }

 private:
  websocket::stream<beast::tcp_stream> ws_;
  WsWriteQueue<websocket::stream<beast::tcp_stream>> writer_{ws_};
  beast::flat_buffer buffer_;
  bool closed_ = false;
};

}  // namespace

asio::awaitable<std::shared_ptr<WsClient>> WsClient::connect(std::string url, Headers headers) {
  auto u = parse_url(url);
  if (!u) throw std::runtime_error("not an absolute URL: " + url);
  if (u->scheme != "ws") throw std::runtime_error("only ws:// is supported by this client: " + url);
  auto client = std::make_shared<WsClientImpl>(co_await asio::this_coro::executor);
  co_await client->open(*u, headers);
  co_return client;
}

}  // namespace vox::net
