// net::HttpClient, net::WsClient and net::Server against each other over real loopback
// sockets: certificate checking, keep-alive pooling, retries, read timeouts, chunked
// streaming, WSS and route patterns. Every test runs its own in-process server on
// 127.0.0.1 (port 0) with its io_context on a background thread; the client side runs
// on the test thread on a private io_context.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "net/client.hpp"
#include "net/router.hpp"
#include "net/server.hpp"
#include "support/test_certs.hpp"

namespace vox::test {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using Kind = net::TransportError::Kind;
using Clock = std::chrono::steady_clock;

// (GCC 12: no braced aggregate prvalues as coroutine arguments, no co_await inside ?:
// or constructor arguments, no literals/initializer lists inside co_await expressions;
// the coroutines below build named locals first.)

// ---------------------------------------------------------------------------------------
// Helpers

// A throwaway PKI per process, removed at exit.
struct PkiHolder {
  vox::testing::TestPki pki = vox::testing::make_test_pki();
  ~PkiHolder() { vox::testing::remove_test_pki(pki); }
};
const vox::testing::TestPki& pki() {
  static PkiHolder h;
  return h.pki;
}
// An unrelated CA (and server certificate) for the negative tests.
const vox::testing::TestPki& other_pki() {
  static PkiHolder h;
  return h.pki;
}

std::optional<net::ServerTls> server_tls() {
  net::ServerTls tls;
  tls.cert_file = pki().server_cert_file;
  tls.key_file = pki().server_key_file;
  return tls;
}

long ms_since(Clock::time_point start) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

asio::awaitable<void> delay(std::chrono::milliseconds d) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  timer.expires_after(d);
  co_await timer.async_wait(asio::use_awaitable);
}

// A net::Server on 127.0.0.1 (or `host`), port 0, with its io_context on its own thread.
// The destructor stops the io_context and joins the thread before the server goes.
class TestServer {
 public:
  explicit TestServer(net::Router router, std::optional<net::ServerTls> tls = std::nullopt,
                      net::ServerLimits limits = net::ServerLimits{}, const std::string& host = "127.0.0.1")
      : guard_(asio::make_work_guard(ioc_)), secure_(tls.has_value()) {
    server_ = std::make_unique<net::Server>(ioc_, std::move(router), limits, std::move(tls));
    port_ = server_->listen(host, 0);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestServer() {
    // Close every connection and let their coroutines finish before the loop stops: a
    // WebSocket session stopped mid-close keeps Beast's paused operation (and with it the
    // session) in a cycle that is never freed.
    server_->shutdown();
    server_->abort_all();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (server_->open_connections() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    guard_.reset();
    ioc_.stop();
    thread_.join();
    server_.reset();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return port_; }
  net::Server& server() { return *server_; }
  // http(s)://host:port/path
  std::string url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return std::string(secure_ ? "https" : "http") + "://" + host + ":" + std::to_string(port_) + path;
  }
  // ws(s)://host:port/path
  std::string ws_url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return std::string(secure_ ? "wss" : "ws") + "://" + host + ":" + std::to_string(port_) + path;
  }

 private:
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  bool secure_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// A bare TCP server answering every request (read up to the blank line) with `canned`,
// for responses net::Server would not produce.
class RawServer {
 public:
  explicit RawServer(std::string canned) : canned_(std::move(canned)), acceptor_(ioc_) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~RawServer() {
    ioc_.stop();
    thread_.join();
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int requests() const { return requests_.load(); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(ioc_, serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(tcp::socket socket) {
    std::string in;
    const std::string end_of_head = "\r\n\r\n";
    for (;;) {
      auto buffer = asio::dynamic_buffer(in);
      auto [ec, n] = co_await asio::async_read_until(socket, buffer, end_of_head, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      in.erase(0, n);
      ++requests_;
      auto out = asio::buffer(canned_);
      auto [wec, wn] = co_await asio::async_write(socket, out, asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
    }
  }

  std::string canned_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// The client side: an io_context run on the test thread until the coroutine(s) finish.
// Declare it before the clients that use its executor.
class ClientIo {
 public:
  template <typename T>
  T run(asio::awaitable<T> op) {
    ioc_.restart();
    auto fut = asio::co_spawn(ioc_, std::move(op), asio::use_future);
    ioc_.run();
    return fut.get();
  }
  // Runs the operations concurrently; returns their results in order (rethrows the first failure).
  template <typename T>
  std::vector<T> run_all(std::vector<asio::awaitable<T>> ops) {
    ioc_.restart();
    std::vector<std::future<T>> futures;
    for (auto& op : ops) futures.push_back(asio::co_spawn(ioc_, std::move(op), asio::use_future));
    ioc_.run();
    std::vector<T> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }
  asio::any_io_executor executor() { return ioc_.get_executor(); }

 private:
  asio::io_context ioc_;
};

// Runs `f`; returns the TransportError it threw, or nullopt when it returned.
template <typename F>
std::optional<net::TransportError> transport_error(F&& f) {
  try {
    f();
  } catch (const net::TransportError& e) {
    return e;
  }
  return std::nullopt;
}

net::HttpClientOptions client_options(net::TlsOptions tls = net::TlsOptions()) {
  net::HttpClientOptions o;
  o.tls = std::move(tls);
  o.connect_timeout = 5s;
  o.read_timeout = 5s;
  o.retry.max_attempts = 3;
  o.retry.base_delay = 5ms;
  o.retry.max_delay = 20ms;
  return o;
}

net::HttpClientOptions tls_client_options() { return client_options(net::TlsOptions(pki().ca_cert_file)); }

net::ClientRequest make_request(std::string method, std::string url, std::string body = {}) {
  net::ClientRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.body = std::move(body);
  return r;
}

// HttpClient::send()/send_streaming() with a named request (GCC 12: no aggregate
// prvalues as coroutine arguments; ClientRequest is an aggregate).
asio::awaitable<net::HttpResponse> send_request(net::HttpClient& client, net::ClientRequest req) {
  return client.send(std::move(req));
}
asio::awaitable<net::HttpResponse> stream_request(net::HttpClient& client, net::ClientRequest req,
                                                  std::function<bool(std::string_view)> on_data) {
  return client.send_streaming(std::move(req), std::move(on_data));
}

// A handler answering `status` with a text body.
net::HttpHandler reply(int status, std::string body) {
  return [status, body](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::text(status, body);
  };
}

// A streaming handler: `chunks` pieces "chunk<i>;" with `gap` between them.
net::HttpResponse chunked_response(int chunks, std::chrono::milliseconds gap) {
  net::HttpResponse res;
  res.content_type = "text/plain";
  res.stream = [chunks, gap](net::BodyWriter& w) -> asio::awaitable<void> {
    for (int i = 0; i < chunks; ++i) {
      if (i > 0) co_await delay(gap);
      const std::string chunk = "chunk" + std::to_string(i) + ";";
      const bool ok = co_await w.write(chunk);
      if (!ok) co_return;
    }
  };
  return res;
}

const std::string kFiveChunks = "chunk0;chunk1;chunk2;chunk3;chunk4;";

// ---------------------------------------------------------------------------------------
// TLS

TEST(HttpsClient, VerifiesTheServerWithTheTestCaByIpAndByName) {
  net::Router router;
  router.add("GET", "/hello", reply(200, "hello over tls"));
  TestServer server(std::move(router), server_tls());
  ClientIo io;
  for (const char* host : {"127.0.0.1", "localhost"}) {
    net::HttpClient client(io.executor(), tls_client_options());
    auto res = io.run(send_request(client, make_request("GET", server.url("/hello", host))));
    EXPECT_EQ(res.status, 200) << host;
    EXPECT_EQ(res.body, "hello over tls") << host;
    EXPECT_EQ(res.content_type, "text/plain; charset=utf-8") << host;
    EXPECT_EQ(client.stats().connections_opened, 1u) << host;
  }
  // The one-shot helper with the same CA.
  auto res = io.run(net::http_request("GET", server.url("/hello", "localhost"), {}, "", 5s,
                                      net::TlsOptions(pki().ca_cert_file)));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "hello over tls");
}

TEST(HttpsClient, RejectsAServerItCannotVerify) {
  net::Router router;
  router.add("GET", "/hello", reply(200, "hello over tls"));
  TestServer server(std::move(router), server_tls());
  ClientIo io;
  const auto url = server.url("/hello");

  // Another CA.
  {
    net::HttpClient client(io.executor(), client_options(net::TlsOptions(other_pki().ca_cert_file)));
    auto err = transport_error([&] { io.run(send_request(client, make_request("GET", url))); });
    ASSERT_TRUE(err);
    EXPECT_EQ(err->kind, Kind::kTls) << err->what();
    EXPECT_EQ(client.stats().connections_opened, 0u);
  }
  // The system CA store does not know the test CA either.
  {
    net::HttpClient client(io.executor(), client_options(net::TlsOptions()));
    auto err = transport_error([&] { io.run(send_request(client, make_request("GET", url))); });
    ASSERT_TRUE(err);
    EXPECT_EQ(err->kind, Kind::kTls) << err->what();
  }
  // The one-shot helper with the wrong CA.
  {
    auto err = transport_error(
        [&] { io.run(net::http_request("GET", url, {}, "", 5s, net::TlsOptions(other_pki().ca_cert_file))); });
    ASSERT_TRUE(err);
    EXPECT_EQ(err->kind, Kind::kTls) << err->what();
  }
  // Without verification it goes through.
  {
    net::HttpClient client(io.executor(), client_options(net::TlsOptions("", false)));
    auto res = io.run(send_request(client, make_request("GET", url)));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "hello over tls");
  }
}

TEST(HttpsClient, RejectsACertificateForAnotherAddress) {
  // The certificate names localhost, 127.0.0.1 and ::1; 127.0.0.2 is loopback too but
  // not in the certificate, so the right CA is not enough.
  net::Router router;
  router.add("GET", "/hello", reply(200, "hello over tls"));
  std::unique_ptr<TestServer> server;
  try {
    server = std::make_unique<TestServer>(std::move(router), server_tls(), net::ServerLimits{}, "127.0.0.2");
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "cannot listen on 127.0.0.2: " << e.what();
  }
  ClientIo io;
  net::HttpClient client(io.executor(), tls_client_options());
  auto err = transport_error([&] { io.run(send_request(client, make_request("GET", server->url("/hello", "127.0.0.2")))); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kTls) << err->what();
  // Not checking the name lets it through.
  net::HttpClient lax(io.executor(), client_options(net::TlsOptions("", false)));
  EXPECT_EQ(io.run(send_request(lax, make_request("GET", server->url("/hello", "127.0.0.2")))).status, 200);
}

// ---------------------------------------------------------------------------------------
// Keep-alive pooling

void check_pooling(bool secure) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/count", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    const int n = ++calls;
    co_return net::HttpResponse::text(200, std::to_string(n));
  });
  TestServer server(std::move(router), secure ? server_tls() : std::nullopt);
  ClientIo io;
  net::HttpClient client(io.executor(), secure ? tls_client_options() : client_options());
  auto first = io.run(send_request(client, make_request("GET", server.url("/count"))));
  auto second = io.run(send_request(client, make_request("GET", server.url("/count"))));
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "1");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "2");
  const auto s = client.stats();
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.connections_opened, 1u);
  EXPECT_EQ(s.connections_reused, 1u);
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(server.server().open_connections(), 1u);
}

TEST(HttpClientPool, ReusesAKeepAliveConnection) { check_pooling(false); }
TEST(HttpClientPool, ReusesAKeepAliveTlsConnection) { check_pooling(true); }

TEST(HttpClientPool, DoesNotPoolAConnectionTheServerWillClose) {
  RawServer raw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  for (int i = 0; i < 2; ++i) {
    auto res = io.run(send_request(client, make_request("GET", raw.url("/x"))));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "ok");
  }
  EXPECT_EQ(client.stats().connections_opened, 2u);
  EXPECT_EQ(client.stats().connections_reused, 0u);
  EXPECT_EQ(raw.requests(), 2);
}

// The server drops idle keep-alive connections after ServerLimits::http_idle; the next
// request on the pooled connection finds it closed before any response byte and must go
// out again on a fresh connection, without counting as a retry — even for a POST, since
// the server never saw it.
void check_stale_connection(bool secure) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("POST", "/echo", [&calls](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    ++calls;
    co_return net::HttpResponse::text(200, req.body);
  });
  net::ServerLimits limits;
  limits.http_idle = 1s;
  TestServer server(std::move(router), secure ? server_tls() : std::nullopt, limits);
  ClientIo io;
  net::HttpClient client(io.executor(), secure ? tls_client_options() : client_options());
  auto first = io.run(send_request(client, make_request("POST", server.url("/echo"), "one")));
  EXPECT_EQ(first.body, "one");
  std::this_thread::sleep_for(1500ms);  // the server times the idle connection out
  auto second = transport_error([&] {
    auto res = io.run(send_request(client, make_request("POST", server.url("/echo"), "two")));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "two");
  });
  EXPECT_FALSE(second) << second->what();
  EXPECT_EQ(calls.load(), 2);
  const auto s = client.stats();
  EXPECT_EQ(s.connections_opened, 2u);
  EXPECT_EQ(s.connections_reused, 1u);
  EXPECT_EQ(s.retries, 0u);
}

TEST(HttpClientPool, ReplacesAConnectionTheServerClosedWhileIdle) { check_stale_connection(false); }
// Over TLS the closed idle connection reads as ssl::error::stream_truncated (no
// close_notify), which must count as stale too; otherwise the POST throws kReset
// "stream truncated" (and a GET burns a counted retry).
TEST(HttpClientPool, ReplacesATlsConnectionTheServerClosedWhileIdle) { check_stale_connection(true); }

// Several pooled connections go stale at once: the first failure drops them all, so
// the request is resent once, on a fresh connection, and reaches the server.
TEST(HttpClientPool, ReplacesSeveralConnectionsTheServerClosedWhileIdle) {
  // Three concurrent requests leave three pooled connections; all go stale together.
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/slow", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_await delay(100ms);
    co_return net::HttpResponse::text(200, "slow");
  });
  router.add("POST", "/echo", [&calls](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    ++calls;
    co_return net::HttpResponse::text(200, req.body);
  });
  net::ServerLimits limits;
  limits.http_idle = 1s;
  TestServer server(std::move(router), std::nullopt, limits);
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  std::vector<asio::awaitable<net::HttpResponse>> ops;
  for (int i = 0; i < 3; ++i) ops.push_back(send_request(client, make_request("GET", server.url("/slow"))));
  auto results = io.run_all(std::move(ops));
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) EXPECT_EQ(r.body, "slow");
  EXPECT_EQ(client.stats().connections_opened, 3u);
  std::this_thread::sleep_for(1500ms);
  auto err = transport_error([&] {
    auto res = io.run(send_request(client, make_request("POST", server.url("/echo"), "after idle")));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "after idle");
  });
  EXPECT_FALSE(err) << err->what();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(client.stats().retries, 0u);
}

// ---------------------------------------------------------------------------------------
// Retries

TEST(HttpClientRetries, RetriesAGetOn503UntilItSucceeds) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/flaky", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    if (++calls <= 2) co_return net::HttpResponse::error(503, "busy");
    co_return net::HttpResponse::text(200, "finally");
  });
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  auto res = io.run(send_request(client, make_request("GET", server.url("/flaky"))));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "finally");
  EXPECT_EQ(calls.load(), 3);
  const auto s = client.stats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.retries, 2u);
  // The 503s kept the connection alive: one connection for all three attempts.
  EXPECT_EQ(s.connections_opened, 1u);
  EXPECT_EQ(s.connections_reused, 2u);
}

TEST(HttpClientRetries, ReturnsTheLastErrorStatusAfterMaxAttempts) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/down", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    ++calls;
    co_return net::HttpResponse::error(502, "bad gateway");
  });
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  auto res = io.run(send_request(client, make_request("GET", server.url("/down"))));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, R"({"detail":"bad gateway"})");
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(client.stats().retries, 2u);
}

TEST(HttpClientRetries, RetriesAPostOnlyWhenMarkedRetrySafe) {
  std::atomic<int> calls{0};
  std::atomic<int> bodies_seen{0};
  net::Router router;
  router.add("POST", "/flaky", [&calls, &bodies_seen](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    if (req.body == "payload") ++bodies_seen;
    if (++calls <= 2) co_return net::HttpResponse::error(503, "busy");
    co_return net::HttpResponse::text(200, "done");
  });
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());

  auto plain = io.run(send_request(client, make_request("POST", server.url("/flaky"), "payload")));
  EXPECT_EQ(plain.status, 503);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(client.stats().retries, 0u);

  calls = 0;
  auto req = make_request("POST", server.url("/flaky"), "payload");
  req.retry_safe = true;
  auto safe = io.run(send_request(client, req));
  EXPECT_EQ(safe.status, 200);
  EXPECT_EQ(safe.body, "done");
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(bodies_seen.load(), 4);  // every attempt carried the body
  EXPECT_EQ(client.stats().retries, 2u);
  EXPECT_EQ(client.stats().requests, 2u);
}

TEST(HttpClientRetries, HonoursRetryAfterOn429) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/limited", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    if (++calls == 1) {
      auto res = net::HttpResponse::error(429, "slow down");
      res.headers.emplace_back("retry-after", "0");
      co_return res;
    }
    co_return net::HttpResponse::text(200, "ok");
  });
  TestServer server(std::move(router));
  ClientIo io;
  // A long backoff (750..1500 ms for the first retry) that retry-after: 0 must override.
  auto opt = client_options();
  opt.retry.base_delay = 1500ms;
  opt.retry.max_delay = 3000ms;
  net::HttpClient client(io.executor(), opt);
  const auto start = Clock::now();
  auto res = io.run(send_request(client, make_request("GET", server.url("/limited"))));
  const auto elapsed = ms_since(start);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(client.stats().retries, 1u);
  EXPECT_LT(elapsed, 600) << "retry-after: 0 was not honoured";
}

TEST(HttpClientRetries, NeverRetriesClientErrors) {
  std::atomic<int> unauthorized{0};
  std::atomic<int> missing{0};
  net::Router router;
  router.add("GET", "/secret", [&unauthorized](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    ++unauthorized;
    co_return net::HttpResponse::error(401, "no key");
  });
  router.add("GET", "/gone", [&missing](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    ++missing;
    co_return net::HttpResponse::error(404, "gone");
  });
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  auto req = make_request("GET", server.url("/secret"));
  req.retry_safe = true;
  EXPECT_EQ(io.run(send_request(client, req)).status, 401);
  EXPECT_EQ(io.run(send_request(client, make_request("GET", server.url("/gone")))).status, 404);
  EXPECT_EQ(unauthorized.load(), 1);
  EXPECT_EQ(missing.load(), 1);
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST(HttpClientRetries, ConnectionRefusedIsAConnectError) {
  // A port that was free a moment ago and has no listener now.
  std::uint16_t port = 0;
  {
    asio::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  const auto start = Clock::now();
  auto err = transport_error(
      [&] { io.run(send_request(client, make_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/"))); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kConnect) << err->what();
  EXPECT_LT(ms_since(start), 1500);
  EXPECT_EQ(client.stats().connections_opened, 0u);
}

TEST(HttpClientRetries, RejectsUrlsThatAreNotHttp) {
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  for (const char* url : {"ws://127.0.0.1:1/x", "not a url", "/relative/path"}) {
    auto err = transport_error([&] { io.run(send_request(client, make_request("GET", url))); });
    ASSERT_TRUE(err) << url;
    EXPECT_EQ(err->kind, Kind::kProtocol) << url;
  }
}

// ---------------------------------------------------------------------------------------
// Read timeouts

net::Router slow_router(std::atomic<int>& calls) {
  net::Router router;
  router.add("GET", "/slow", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    ++calls;
    co_await delay(2000ms);
    co_return net::HttpResponse::text(200, "late");
  });
  router.add("POST", "/slow", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    ++calls;
    co_await delay(2000ms);
    co_return net::HttpResponse::text(200, "late");
  });
  return router;
}

TEST(HttpClientTimeouts, AStalledResponseTimesOut) {
  std::atomic<int> calls{0};
  TestServer server(slow_router(calls));
  ClientIo io;
  auto opt = client_options();
  opt.read_timeout = 200ms;
  opt.retry.max_attempts = 1;
  net::HttpClient client(io.executor(), opt);
  const auto start = Clock::now();
  auto err = transport_error([&] { io.run(send_request(client, make_request("GET", server.url("/slow")))); });
  const auto elapsed = ms_since(start);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kTimeout) << err->what();
  EXPECT_GE(elapsed, 150);
  EXPECT_LT(elapsed, 1500);
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpClientTimeouts, ThePerRequestTimeoutOverridesTheClients) {
  std::atomic<int> calls{0};
  TestServer server(slow_router(calls), server_tls());
  ClientIo io;
  auto opt = tls_client_options();
  opt.read_timeout = 30s;
  net::HttpClient client(io.executor(), opt);
  auto req = make_request("POST", server.url("/slow"), "x");
  req.read_timeout = 200ms;
  const auto start = Clock::now();
  auto err = transport_error([&] { io.run(send_request(client, req)); });
  const auto elapsed = ms_since(start);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kTimeout) << err->what();
  EXPECT_LT(elapsed, 1500);
  EXPECT_EQ(calls.load(), 1);  // a POST is not retried
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST(HttpClientTimeouts, AGetThatTimesOutIsRetried) {
  std::atomic<int> calls{0};
  TestServer server(slow_router(calls));
  ClientIo io;
  auto opt = client_options();
  opt.read_timeout = 200ms;
  opt.retry.max_attempts = 2;
  net::HttpClient client(io.executor(), opt);
  const auto start = Clock::now();
  auto err = transport_error([&] { io.run(send_request(client, make_request("GET", server.url("/slow")))); });
  const auto elapsed = ms_since(start);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kTimeout) << err->what();
  EXPECT_GE(elapsed, 350);
  EXPECT_LT(elapsed, 1500);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(client.stats().retries, 1u);
  EXPECT_EQ(client.stats().connections_opened, 2u);  // the timed-out connection is not reused
}

TEST(HttpClientTimeouts, TheBudgetCutsTheAttemptAndLeavesNoTimeForARetry) {
  std::atomic<int> calls{0};
  TestServer server(slow_router(calls));
  ClientIo io;
  auto opt = client_options();
  opt.read_timeout = 1500ms;
  opt.retry.max_attempts = 5;
  net::HttpClient client(io.executor(), opt);
  auto req = make_request("GET", server.url("/slow"));
  req.budget = 600ms;
  const auto start = Clock::now();
  auto err = transport_error([&] { io.run(send_request(client, req)); });
  const auto elapsed = ms_since(start);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kTimeout) << err->what();
  EXPECT_GE(elapsed, 550);
  EXPECT_LT(elapsed, 1400);  // not the 1.5 s read timeout, let alone five of them
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST(HttpClientTimeouts, RetriesThatFitTheBudgetStillHappen) {
  std::atomic<int> calls{0};
  TestServer server(slow_router(calls));
  ClientIo io;
  auto opt = client_options();
  opt.read_timeout = 200ms;
  opt.retry.max_attempts = 10;
  net::HttpClient client(io.executor(), opt);
  auto req = make_request("GET", server.url("/slow"));
  req.budget = 1000ms;
  const auto start = Clock::now();
  auto err = transport_error([&] { io.run(send_request(client, req)); });
  const auto elapsed = ms_since(start);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kTimeout) << err->what();
  EXPECT_GE(calls.load(), 2);
  EXPECT_LT(calls.load(), 10);
  EXPECT_LT(elapsed, 1400);
}

// ---------------------------------------------------------------------------------------
// Streaming (chunked bodies)

TEST(HttpClientStreaming, HandsTheBodyOverPieceByPiece) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/stream", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    ++calls;
    co_return chunked_response(5, 30ms);
  });
  TestServer server(std::move(router), server_tls());
  ClientIo io;
  net::HttpClient client(io.executor(), tls_client_options());
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> pieces;
    auto res = io.run(stream_request(client, make_request("GET", server.url("/stream")), [&](std::string_view d) {
      pieces.emplace_back(d);
      return true;
    }));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "");  // the body went to on_data
    EXPECT_GE(pieces.size(), 2u);
    std::string all;
    for (const auto& p : pieces) all += p;
    EXPECT_EQ(all, kFiveChunks);
  }
  EXPECT_EQ(calls.load(), 2);
  // The connection survives a complete chunked body.
  EXPECT_EQ(client.stats().connections_opened, 1u);
  EXPECT_EQ(client.stats().connections_reused, 1u);
  // send() reads the same body whole.
  auto whole = io.run(send_request(client, make_request("GET", server.url("/stream"))));
  EXPECT_EQ(whole.body, kFiveChunks);
}

TEST(HttpClientStreaming, OnDataReturningFalseCancels) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/stream", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    ++calls;
    co_return chunked_response(5, 30ms);
  });
  router.add("GET", "/hello", reply(200, "hello"));
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  int pieces = 0;
  std::string got;
  // send_streaming throws kCancelled (it does not return) when on_data stops it.
  auto err = transport_error([&] {
    io.run(stream_request(client, make_request("GET", server.url("/stream")), [&](std::string_view d) {
      ++pieces;
      got.append(d);
      return false;
    }));
  });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kCancelled) << err->what();
  EXPECT_EQ(pieces, 1);
  EXPECT_EQ(got.rfind("chunk0;", 0), 0u) << got;
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(client.stats().retries, 0u);
  // The cancelled connection was discarded: the next request needs a new one.
  EXPECT_EQ(io.run(send_request(client, make_request("GET", server.url("/hello")))).body, "hello");
  EXPECT_EQ(client.stats().connections_opened, 2u);
  EXPECT_EQ(client.stats().connections_reused, 0u);
}

TEST(HttpClientStreaming, AnErrorStatusIsNotStreamed) {
  net::Router router;
  router.add("GET", "/missing", reply(404, "no such thing"));
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  int pieces = 0;
  auto res = io.run(stream_request(client, make_request("GET", server.url("/missing")), [&](std::string_view) {
    ++pieces;
    return true;
  }));
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.body, "no such thing");
  EXPECT_EQ(pieces, 0);
}

TEST(HttpClientStreaming, AResetAfterTheFirstPieceIsNotRetried) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/broken", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    ++calls;
    net::HttpResponse res;
    res.content_type = "text/plain";
    res.stream = [](net::BodyWriter& w) -> asio::awaitable<void> {
      const std::string first = "first";
      const bool ok = co_await w.write(first);
      if (!ok) co_return;
      co_await delay(50ms);
      w.reset();
    };
    co_return res;
  });
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());  // GET: retryable, 3 attempts
  std::vector<std::string> pieces;
  auto err = transport_error([&] {
    io.run(stream_request(client, make_request("GET", server.url("/broken")), [&](std::string_view d) {
      pieces.emplace_back(d);
      return true;
    }));
  });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kReset) << err->what();
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0], "first");
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST(HttpClientStreaming, AResetBeforeAnyPieceIsRetried) {
  std::atomic<int> calls{0};
  net::Router router;
  router.add("GET", "/flaky", [&calls](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    if (++calls > 1) co_return chunked_response(5, 5ms);
    net::HttpResponse res;
    res.stream = [](net::BodyWriter& w) -> asio::awaitable<void> {
      w.reset();  // after the head, before any chunk
      co_return;
    };
    co_return res;
  });
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  std::string all;
  auto res = io.run(stream_request(client, make_request("GET", server.url("/flaky")), [&](std::string_view d) {
    all.append(d);
    return true;
  }));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(all, kFiveChunks);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(client.stats().retries, 1u);
}

// ---------------------------------------------------------------------------------------
// Responses the server gets wrong or net::Server cannot produce

// The response parser must be told the request was HEAD (parser.skip(true)); otherwise
// it waits for the 5 body bytes announced by Content-Length and the request ends in
// kTimeout after read_timeout.
TEST(HttpClientProtocol, AHeadResponseHasNoBody) {
  // A HEAD response carries the Content-Length of the GET body but no body.
  RawServer raw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
  ClientIo io;
  auto opt = client_options();
  opt.read_timeout = 500ms;
  opt.retry.max_attempts = 1;
  net::HttpClient client(io.executor(), opt);
  const auto start = Clock::now();
  auto err = transport_error([&] {
    auto res = io.run(send_request(client, make_request("HEAD", raw.url("/file"))));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "");
  });
  EXPECT_FALSE(err) << err->what();
  EXPECT_LT(ms_since(start), 400);
}

// Server::serve arms expires_after(http_idle) before reading the request; unless the
// deadline is re-armed before the response is written, the write of a handler that took
// longer than http_idle runs on an expired deadline: as soon as the write has to wait for
// the socket, the timer closes the stream and the client sees "partial message" (small
// responses usually slip through in one write).
TEST(HttpServer, ASlowHandlersLargeResponseIsDeliveredWhole) {
  // The handler takes longer than the idle timeout armed before the request was read;
  // its (large) response must still go out whole.
  constexpr std::size_t size = 16u << 20;
  net::Router router;
  router.add("GET", "/big", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_await delay(1300ms);
    co_return net::HttpResponse::text(200, std::string(size, 'x'));
  });
  net::ServerLimits limits;
  limits.http_idle = 1s;
  TestServer server(std::move(router), std::nullopt, limits);
  ClientIo io;
  auto opt = client_options();
  opt.retry.max_attempts = 1;
  net::HttpClient client(io.executor(), opt);
  auto err = transport_error([&] {
    auto res = io.run(send_request(client, make_request("GET", server.url("/big"))));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body.size(), size);
  });
  EXPECT_FALSE(err) << err->what();
}

// ---------------------------------------------------------------------------------------
// WebSocket over TLS

class EchoHandler final : public net::WsHandler {
 public:
  void on_open(std::shared_ptr<net::WsConnection> connection) override { connection_ = std::move(connection); }
  void on_text(std::string_view message) override {
    if (connection_) connection_->send_text("echo:" + std::string(message));
  }
  void on_close(std::string_view) override { connection_.reset(); }

 private:
  std::shared_ptr<net::WsConnection> connection_;
};

net::Router echo_router() {
  net::Router router;
  router.add_ws("/echo", [](const net::HttpRequest&, net::HttpResponse&) -> std::unique_ptr<net::WsHandler> {
    return std::make_unique<EchoHandler>();
  });
  return router;
}

struct EchoResult {
  std::optional<std::string> first;
  std::optional<std::string> second;
  std::optional<std::string> after_close;
  int close_code = -1;
};

asio::awaitable<EchoResult> echo_session(std::string url, net::TlsOptions tls) {
  net::Headers headers;
  const std::chrono::milliseconds timeout = 5s;
  auto ws = co_await net::WsClient::connect(url, headers, tls, timeout);
  EchoResult r;
  std::string hello = "hello";
  ws->send(hello);
  r.first = co_await ws->read();
  std::string again = "again";
  ws->send(again);
  r.second = co_await ws->read();
  ws->close();
  r.after_close = co_await ws->read();
  r.close_code = ws->close_code();
  co_return r;
}

TEST(WssClient, EchoesOverTlsWithTheTestCa) {
  TestServer server(echo_router(), server_tls());
  ClientIo io;
  for (const char* host : {"127.0.0.1", "localhost"}) {
    const std::string url = server.ws_url("/echo", host);
    const net::TlsOptions tls(pki().ca_cert_file);
    auto r = io.run(echo_session(url, tls));
    ASSERT_TRUE(r.first) << host;
    EXPECT_EQ(*r.first, "echo:hello");
    ASSERT_TRUE(r.second) << host;
    EXPECT_EQ(*r.second, "echo:again");
    EXPECT_FALSE(r.after_close) << *r.after_close;
    EXPECT_EQ(r.close_code, 1000);
  }
}

TEST(WssClient, RejectsAServerSignedByAnotherCa) {
  TestServer server(echo_router(), server_tls());
  ClientIo io;
  const std::string url = server.ws_url("/echo");
  {
    const net::TlsOptions tls(other_pki().ca_cert_file);
    auto err = transport_error([&] { io.run(echo_session(url, tls)); });
    ASSERT_TRUE(err);
    EXPECT_EQ(err->kind, Kind::kTls) << err->what();
  }
  {
    const net::TlsOptions tls;  // system CAs
    auto err = transport_error([&] { io.run(echo_session(url, tls)); });
    ASSERT_TRUE(err);
    EXPECT_EQ(err->kind, Kind::kTls) << err->what();
  }
  {
    const net::TlsOptions tls("", false);
    auto r = io.run(echo_session(url, tls));
    ASSERT_TRUE(r.first);
    EXPECT_EQ(*r.first, "echo:hello");
  }
}

TEST(WsClient, ReportsTheStatusOfARefusedUpgrade) {
  TestServer server(echo_router());
  ClientIo io;
  const std::string url = server.ws_url("/nowhere");
  const net::TlsOptions tls;
  auto err = transport_error([&] { io.run(echo_session(url, tls)); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind, Kind::kProtocol) << err->what();
  EXPECT_NE(std::string(err->what()).find("HTTP 404"), std::string::npos) << err->what();
}

// Keep-alive: a server that is silent but alive (it answers pings) keeps the connection
// well past the idle period; one that stopped reading (a half-open peer: no pong ever
// comes) is dropped after it.
asio::awaitable<std::optional<std::string>> silent_then_hello(std::string url, std::chrono::milliseconds quiet) {
  net::Headers headers;
  net::TlsOptions tls;
  const std::chrono::milliseconds timeout = 5s;
  const std::chrono::milliseconds idle = 400ms;
  auto ws = co_await net::WsClient::connect(url, headers, tls, timeout, idle);
  auto exec = co_await asio::this_coro::executor;
  // Says hello only after `quiet` (meanwhile only pings and pongs cross), unless the
  // connection ended first.
  auto timer = std::make_shared<asio::steady_timer>(exec);
  timer->expires_after(quiet);
  timer->async_wait([ws](boost::system::error_code ec) {
    if (!ec) ws->send("hello");
  });
  auto got = co_await ws->read();
  timer->cancel();
  ws->abort();
  co_return got;
}

TEST(WsClient, PingsASilentServerAndKeepsTheConnection) {
  TestServer server(echo_router());
  ClientIo io;
  auto got = io.run(silent_then_hello(server.ws_url("/echo"), 1500ms));  // almost 4 idle periods
  ASSERT_TRUE(got) << "the connection was dropped while the server answered pings";
  EXPECT_EQ(*got, "echo:hello");
}

TEST(WsClient, DropsAServerThatNeverAnswersAPing) {
  // A WebSocket server that completes the handshake and then never reads again.
  asio::io_context peer_io;
  tcp::acceptor acceptor(peer_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  std::promise<void> release;
  std::thread peer([&] {
    tcp::socket socket(peer_io);
    acceptor.accept(socket);
    boost::beast::websocket::stream<tcp::socket> ws(std::move(socket));
    boost::beast::error_code ec;
    ws.accept(ec);
    release.get_future().wait();  // holds the socket open, reading nothing
  });
  ClientIo io;
  const auto start = Clock::now();
  auto got = io.run(silent_then_hello("ws://127.0.0.1:" + std::to_string(port) + "/", 10s));
  const auto elapsed = ms_since(start);
  release.set_value();
  peer.join();
  EXPECT_FALSE(got);
  EXPECT_GE(elapsed, 350);   // not before the idle period
  EXPECT_LT(elapsed, 3000);  // but soon after it
}

// ---------------------------------------------------------------------------------------
// Route patterns over the wire

TEST(RouterOverHttp, PatternsLiteralsAndMethods) {
  net::Router router;
  router.add("GET", "/v1/items/{id}", [](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::text(200, "item:" + std::string(req.param("id")));
  });
  router.add("GET", "/v1/items/special", reply(200, "special"));
  router.add("GET", "/v1/users/{user}/items/{id}", [](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::text(200, std::string(req.param("user")) + "/" + std::string(req.param("id")) + "?" +
                                               req.query);
  });
  TestServer server(std::move(router));
  ClientIo io;
  net::HttpClient client(io.executor(), client_options());
  auto get = [&](const std::string& method, const std::string& path) {
    return io.run(send_request(client, make_request(method, server.url(path))));
  };

  auto item = get("GET", "/v1/items/42");
  EXPECT_EQ(item.status, 200);
  EXPECT_EQ(item.body, "item:42");
  auto special = get("GET", "/v1/items/special");
  EXPECT_EQ(special.status, 200);
  EXPECT_EQ(special.body, "special");  // the literal route wins over the pattern
  auto nested = get("GET", "/v1/users/ann/items/7?full=1");
  EXPECT_EQ(nested.status, 200);
  EXPECT_EQ(nested.body, "ann/7?full=1");
  EXPECT_EQ(get("DELETE", "/v1/items/42").status, 405);
  EXPECT_EQ(get("POST", "/v1/items/special").status, 405);
  EXPECT_EQ(get("GET", "/v1/items/42/extra").status, 404);
  EXPECT_EQ(get("GET", "/v1/things/42").status, 404);
  // 4xx are not retried, and every request went over the one pooled connection.
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(client.stats().connections_opened, 1u);
}

}  // namespace
}  // namespace vox::test
