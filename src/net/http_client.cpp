// The pooled HTTP(S) client: keep-alive connections per origin, timeouts, retries with
// jittered backoff, streamed bodies; and one-off requests.
#include "net/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <random>

#include "net/client_detail.hpp"

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

namespace {

bool is_retryable_status(int status) { return status == 429 || status == 502 || status == 503 || status == 504 || status == 500; }

std::chrono::milliseconds backoff(const RetryPolicy& p, int attempt, const HttpResponse* res) {
  if (res) {
    for (const auto& [k, v] : res->headers) {
      if (beast::iequals(k, "retry-after")) {
        try {
          const auto secs = std::stod(v);
          // Checked before the cast: a stranger's 1e308 or NaN must not become undefined behaviour.
          if (secs >= 0 && secs * 1000 < static_cast<double>(p.max_delay.count()))
            return std::chrono::milliseconds(static_cast<long>(secs * 1000));
          if (secs >= 0) return p.max_delay;
        } catch (...) {
        }
      }
    }
  }
  thread_local std::mt19937 rng{std::random_device{}()};
  const double full = std::min<double>(static_cast<double>(p.max_delay.count()),
                                       static_cast<double>(p.base_delay.count()) * double(1 << std::min(attempt, 10)));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<long>(full * jitter(rng)));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Pooled HTTP client

struct Connection {
  std::string origin;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;
  bool reused = false;

  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*tls); }
  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }
};

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  asio::any_io_executor exec;
  HttpClientOptions opt;
  std::shared_ptr<ssl::context> tls;
  mutable std::mutex mu;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  HttpClientStats stats;

  Impl(asio::any_io_executor e, HttpClientOptions o) : exec(std::move(e)), opt(std::move(o)) {}

  std::unique_ptr<Connection> take_idle(const std::string& origin) {
    std::lock_guard lock(mu);
    auto it = idle.find(origin);
    if (it == idle.end()) return nullptr;
    auto& v = it->second;
    const auto now = std::chrono::steady_clock::now();
    while (!v.empty()) {
      auto c = std::move(v.back());
      v.pop_back();
      if (now - c->idle_since < opt.idle_ttl && c->lowest().socket().is_open()) {
        c->reused = true;
        ++stats.connections_reused;
        return c;
      }
      c->close();
    }
    return nullptr;
  }

  void drop_idle(const std::string& origin) {
    std::lock_guard lock(mu);
    auto it = idle.find(origin);
    if (it == idle.end()) return;
    for (auto& c : it->second) c->close();
    idle.erase(it);
  }

  void put_idle(std::unique_ptr<Connection> c) {
    c->idle_since = std::chrono::steady_clock::now();
    std::lock_guard lock(mu);
    auto& v = idle[c->origin];
    if (v.size() >= opt.max_idle_per_origin) {
      c->close();
      return;
    }
    v.push_back(std::move(c));
  }

  asio::awaitable<std::unique_ptr<Connection>> open(const ParsedUrl& u, const std::string& origin,
                                                    std::chrono::milliseconds connect_timeout) {
    tcp::resolver resolver(exec);
    auto [rec, results] = co_await resolver.async_resolve(u.host, u.port, kTuple);
    if (rec) throw TransportError(Kind::kConnect, "cannot resolve " + u.host + ": " + rec.message());
    auto c = std::make_unique<Connection>();
    c->origin = origin;
    if (u.secure()) {
      std::shared_ptr<ssl::context> ctx;
      {
        std::lock_guard lock(mu);
        if (!tls) tls = tls_context(opt.tls);
        ctx = tls;
      }
      c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(exec, *ctx);
    } else {
      c->plain = std::make_unique<beast::tcp_stream>(exec);
    }
    c->lowest().expires_after(connect_timeout);
    auto [cec, ep] = co_await c->lowest().async_connect(results, kTuple);
    if (cec) {
      throw TransportError(cec == beast::error::timeout ? Kind::kTimeout : Kind::kConnect,
                           "cannot connect to " + u.host + ":" + u.port + ": " + cec.message());
    }
    c->lowest().socket().set_option(tcp::no_delay(true));
    if (c->tls) {
      prepare_tls(c->tls->native_handle(), u.host, opt.tls.verify);
      auto [hec] = co_await c->tls->async_handshake(ssl::stream_base::client, kTuple);
      if (hec) throw TransportError(Kind::kTls, "TLS handshake with " + u.host + ":" + u.port + " failed: " + hec.message());
    }
    {
      std::lock_guard lock(mu);
      ++stats.connections_opened;
    }
    co_return c;
  }

  // Result of one attempt: a response, or a transport error and whether body bytes
  // were already delivered (then it must not be retried).
  struct Attempt {
    std::optional<HttpResponse> response;
    std::optional<TransportError> error;
    bool delivered = false;
    bool stale = false;  // a reused connection failed before any response byte
  };

  template <typename Stream>
  asio::awaitable<Attempt> exchange(Stream& stream, Connection& c, const ParsedUrl& u, const ClientRequest& req,
                                    const std::function<bool(std::string_view)>* on_data, bool& keep,
                                    std::chrono::milliseconds read_timeout) {
    Attempt a;
    http::request<http::string_body> hreq{http::string_to_verb(req.method), u.target, 11};
    hreq.set(http::field::host, host_header(u));
    hreq.set(http::field::user_agent, opt.user_agent);
    for (const auto& [k, v] : req.headers) hreq.set(k, v);
    hreq.body() = req.body;
    hreq.keep_alive(true);
    hreq.prepare_payload();
    c.lowest().expires_after(read_timeout);
    auto [wec, wn] = co_await http::async_write(stream, hreq, kTuple);
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    if (req.method == "HEAD") parser.skip(true);  // a HEAD answer has headers only
    c.lowest().expires_after(read_timeout);
    auto [hec, hn] = co_await http::async_read_header(stream, c.buffer, parser, kTuple);
    if (hec) {
      const auto& ec = wec ? wec : hec;
      a.stale = c.reused && (hec == http::error::end_of_stream || hec == asio::error::connection_reset ||
                             hec == asio::error::eof || hec == asio::error::broken_pipe ||
                             hec == ssl::error::stream_truncated || wec);
      a.error = TransportError(hec == beast::error::timeout ? Kind::kTimeout : Kind::kReset,
                               req.method + " " + u.host + u.target.substr(0, u.target.find('?')) + ": " + ec.message());
      co_return a;
    }
    HttpResponse res;
    res.status = static_cast<int>(parser.get().result_int());
    res.content_type = std::string(parser.get()[http::field::content_type]);
    for (const auto& f : parser.get()) res.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    const bool stream_body = on_data && res.status >= 200 && res.status < 300;
    constexpr std::size_t kMaxBody = 64u << 20;  // whole bodies we keep in memory
    std::array<char, 16384> buf;
    while (!parser.is_done()) {
      parser.get().body().data = buf.data();
      parser.get().body().size = buf.size();
      c.lowest().expires_after(read_timeout);
      auto [ec, n] = co_await http::async_read_some(stream, c.buffer, parser, kTuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        a.delivered = stream_body && a.delivered;
        a.error = TransportError(ec == beast::error::timeout ? Kind::kTimeout : Kind::kReset,
                                 "reading the response of " + req.method + " " + u.host +
                                     u.target.substr(0, u.target.find('?')) + ": " + ec.message());
        co_return a;
      }
      const std::size_t got = buf.size() - parser.get().body().size;
      if (got == 0) continue;
      if (stream_body) {
        a.delivered = true;
        if (!(*on_data)(std::string_view(buf.data(), got))) {
          a.error = TransportError(Kind::kCancelled, "cancelled");
          co_return a;
        }
      } else {
        if (res.body.size() + got > kMaxBody) {
          a.error = TransportError(Kind::kProtocol, "response of " + req.method + " " + u.host + " exceeds " +
                                                        std::to_string(kMaxBody >> 20) + " MiB");
          co_return a;
        }
        res.body.append(buf.data(), got);
      }
    }
    keep = parser.get().keep_alive();
    a.response = std::move(res);
    co_return a;
  }

  asio::awaitable<HttpResponse> run(ClientRequest req, const std::function<bool(std::string_view)>* on_data) {
    auto self = shared_from_this();
    auto u = parse_url(req.url);
    if (!u || (u->scheme != "http" && u->scheme != "https"))
      throw TransportError(Kind::kProtocol, "not an http(s) URL: " + req.url);
    const std::string origin = u->scheme + "://" + u->host + ":" + u->port;
    const bool retryable = req.retry_safe || req.method == "GET" || req.method == "HEAD" || req.method == "PUT" ||
                           req.method == "DELETE";
    {
      std::lock_guard lock(mu);
      ++stats.requests;
    }
    int attempt = 0;
    bool stale_retried = false;
    const auto started = std::chrono::steady_clock::now();
    // What is left of the request's budget (effectively unbounded without one).
    const auto left = [&]() -> std::chrono::milliseconds {
      if (!req.budget) return std::chrono::hours(24);
      return *req.budget - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    };
    // Whether a retry after `wait` still has time for an attempt (at least a tenth of the
    // budget, 100 ms or more).
    const auto retry_fits = [&](std::chrono::milliseconds wait) {
      if (!req.budget) return true;
      return left() - wait >= std::max(std::chrono::milliseconds(100), *req.budget / 10);
    };
    const auto out_of_budget = [&]() {
      return TransportError(Kind::kTimeout, req.method + " " + u->host + u->target.substr(0, u->target.find('?')) +
                                                ": no answer within " + std::to_string(req.budget->count()) + " ms");
    };
    for (;;) {
      if (left().count() <= 0) throw out_of_budget();
      auto c = take_idle(origin);
      if (!c) {
        std::optional<TransportError> failed;
        try {
          c = co_await open(*u, origin, std::min(opt.connect_timeout, left()));
        } catch (const TransportError& e) {
          failed = e;
        }
        if (failed) {
          if (!retryable || attempt + 1 >= opt.retry.max_attempts) throw *failed;
          const auto wait = backoff(opt.retry, attempt, nullptr);
          if (!retry_fits(wait)) throw *failed;
          spdlog::info("http {}: {}; retrying in {} ms", req.method, failed->what(), wait.count());
          co_await sleep(wait);
          ++attempt;
          std::lock_guard lock(mu);
          ++stats.retries;
          continue;
        }
      }
      bool keep = false;
      // (Two separate co_await statements: GCC 12 miscompiles co_await inside ?:.)
      Attempt a;
      const auto read_timeout = std::min(req.read_timeout.value_or(opt.read_timeout), left());
      if (c->tls) a = co_await exchange(*c->tls, *c, *u, req, on_data, keep, read_timeout);
      else a = co_await exchange(*c->plain, *c, *u, req, on_data, keep, read_timeout);
      if (a.response) {
        if (keep) put_idle(std::move(c));
        else c->close();
        const int status = a.response->status;
        // (The backoff, with its random jitter and Retry-After scan, only for a status that
        // may be retried: not on every answer.)
        const bool may_retry = retryable && is_retryable_status(status) && attempt + 1 < opt.retry.max_attempts;
        const auto wait = may_retry ? backoff(opt.retry, attempt, &*a.response) : std::chrono::milliseconds(0);
        if (may_retry && retry_fits(wait)) {
          spdlog::info("http {} {} got {}; retrying in {} ms (attempt {}/{})", req.method,
                       u->host + u->target.substr(0, u->target.find('?')), status, wait.count(), attempt + 2,
                       opt.retry.max_attempts);
          co_await sleep(wait);
          ++attempt;
          std::lock_guard lock(mu);
          ++stats.retries;
          continue;
        }
        co_return std::move(*a.response);
      }
      c->close();
      if (a.stale && !stale_retried) {
        // The server closed idle connections: drop every pooled one to that origin and
        // resend once on a fresh connection (nothing of the request was processed).
        stale_retried = true;
        drop_idle(origin);
        continue;
      }
      if (a.error->kind == Kind::kCancelled || a.delivered || !retryable || attempt + 1 >= opt.retry.max_attempts)
        throw *a.error;
      const auto wait = backoff(opt.retry, attempt, nullptr);
      if (!retry_fits(wait)) throw *a.error;
      spdlog::info("http {}: {}; retrying in {} ms", req.method, a.error->what(), wait.count());
      co_await sleep(wait);
      ++attempt;
      std::lock_guard lock(mu);
      ++stats.retries;
    }
  }

  asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    auto exec = co_await asio::this_coro::executor;
    asio::steady_timer t(exec);
    t.expires_after(d);
    co_await t.async_wait(kTuple);
  }
};

HttpClient::HttpClient(asio::any_io_executor exec, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(exec), std::move(options))) {}

HttpClient::~HttpClient() {
  std::lock_guard lock(impl_->mu);
  for (auto& [origin, v] : impl_->idle)
    for (auto& c : v) c->close();
  impl_->idle.clear();
}

asio::awaitable<HttpResponse> HttpClient::send(ClientRequest request) {
  auto impl = impl_;
  // The pooled connections' sockets and timers belong to the client's executor: a caller
  // on another network thread has the request run there (one hop each way), so no socket
  // is touched from two threads.
  const auto here = co_await asio::this_coro::executor;
  if (here == impl->exec) co_return co_await impl->run(std::move(request), nullptr);
  co_return co_await asio::co_spawn(impl->exec, impl->run(std::move(request), nullptr), asio::use_awaitable);
}

asio::awaitable<HttpResponse> HttpClient::send_streaming(ClientRequest request,
                                                         std::function<bool(std::string_view)> on_data) {
  auto impl = impl_;
  co_return co_await impl->run(std::move(request), &on_data);
}

HttpClientStats HttpClient::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

const HttpClientOptions& HttpClient::options() const { return impl_->opt; }

boost::asio::any_io_executor HttpClient::executor() const { return impl_->exec; }

namespace {
asio::awaitable<HttpResponse> one_request(std::string method, std::string url, Headers headers, std::string body,
                                          std::chrono::milliseconds timeout, TlsOptions tls) {
  HttpClientOptions opt;
  opt.tls = std::move(tls);
  opt.connect_timeout = timeout;
  opt.read_timeout = timeout;
  opt.retry.max_attempts = 1;
  // (Plain statements around each co_await: GCC 12 mishandles co_await inside
  // constructor arguments and conditional expressions.)
  auto exec = co_await asio::this_coro::executor;
  HttpClient client(exec, opt);
  ClientRequest req;
  req.method = std::move(method);
  req.url = std::move(url);
  req.headers = std::move(headers);
  req.body = std::move(body);
  HttpResponse res = co_await client.send(std::move(req));
  co_return res;
}
}  // namespace

// Not a coroutine: GCC 12 destroys a coroutine's defaulted class-type arguments twice,
// so the defaults are taken here and handed on explicitly.
asio::awaitable<HttpResponse> http_request(std::string method, std::string url, Headers headers, std::string body,
                                           std::chrono::milliseconds timeout, TlsOptions tls) {
  return one_request(std::move(method), std::move(url), std::move(headers), std::move(body), timeout, std::move(tls));
}

}  // namespace vox::net
