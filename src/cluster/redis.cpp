#include "cluster/redis.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <random>

#include "core/spawn.hpp"
#include "net/client_detail.hpp"

namespace vox::cluster {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string RedisEndpoint::display() const { return host + ":" + port + "/" + std::to_string(db); }

RedisEndpoint parse_redis_url(const std::string& url) {
  auto r = boost::urls::parse_uri(url);
  if (!r) throw std::invalid_argument("not a URL: expected redis://[:password@]host[:port][/db] or rediss://...");
  RedisEndpoint e;
  const auto scheme = r->scheme();
  if (scheme == "rediss") e.tls = true;
  else if (scheme != "redis") throw std::invalid_argument("the scheme must be redis:// or rediss:// (TLS)");
  e.host = r->host_address();
  if (e.host.empty()) throw std::invalid_argument("no host in the Redis URL");
  if (r->has_port()) e.port = r->port();
  if (r->has_userinfo()) {
    e.user = r->user();
    if (r->has_password()) e.password = r->password();
    else {
      e.password = e.user;  // redis://secret@host: a bare password
      e.user.clear();
    }
  }
  std::string path = r->path();
  if (!path.empty() && path != "/") {
    try {
      std::size_t used = 0;
      e.db = std::stoi(path.substr(1), &used);
      if (used != path.size() - 1 || e.db < 0) throw std::invalid_argument("db");
    } catch (const std::exception&) {
      throw std::invalid_argument("the path of a Redis URL is the database number, e.g. redis://host:6379/0");
    }
  }
  return e;
}

namespace {

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::kString; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::kStatus; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::kError; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::kInteger; out.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default: out.type = RedisReply::Type::kNil; break;
  }
  return out;
}

void encode(std::string& out, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  if (n < 0 || !cmd) throw std::runtime_error("cannot encode a Redis command");
  out.append(cmd, static_cast<std::size_t>(n));
  std::free(cmd);
}

struct Pending {
  explicit Pending(asio::any_io_executor ex, std::size_t n) : timer(std::move(ex)), expected(n) {}
  asio::steady_timer timer;
  std::size_t expected;
  std::vector<RedisReply> replies;
  bool done = false;
  std::string failure;
};

struct ReaderDeleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

}  // namespace

struct RedisConnection::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor ex, RedisSettings s, RedisEndpoint e)
      : strand(asio::make_strand(ex)), settings(std::move(s)), ep(std::move(e)), wake(strand) {}

  asio::strand<asio::any_io_executor> strand;
  RedisSettings settings;
  RedisEndpoint ep;
  std::shared_ptr<asio::ssl::context> tls_ctx;
  std::unique_ptr<tcp::socket> sock;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls;
  std::unique_ptr<redisReader, ReaderDeleter> reader;
  bool up = false, stopped = false, writing = false;
  std::string out;
  std::deque<std::shared_ptr<Pending>> waiting;
  asio::steady_timer wake;
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> reconnects{0};
  mutable std::mutex err_mu;
  std::string error = "not connected yet";

  void set_error(std::string e) {
    std::lock_guard lock(err_mu);
    error = std::move(e);
  }
  tcp::socket& lowest() { return tls ? tls->next_layer() : *sock; }
  bool open() { return (tls || sock) && lowest().is_open(); }

  void drop(const std::string& why) {
    if (up) spdlog::warn("{}: connection to {} lost: {}", settings.role, ep.display(), why);
    up = false;
    connected = false;
    set_error(why);
    if (tls || sock) {
      boost::system::error_code ec;
      lowest().close(ec);
    }
    out.clear();
    auto left = std::move(waiting);
    waiting.clear();
    for (auto& p : left) {
      if (p->done) continue;
      p->done = true;
      p->failure = why;
      p->timer.cancel();
    }
  }

  asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf) {
    boost::system::error_code ec;
    std::size_t n = 0;
    if (tls) std::tie(ec, n) = co_await tls->async_read_some(buf, asio::as_tuple(asio::use_awaitable));
    else std::tie(ec, n) = co_await sock->async_read_some(buf, asio::as_tuple(asio::use_awaitable));
    if (ec) throw std::runtime_error(ec == asio::error::eof ? std::string("closed by Redis") : ec.message());
    co_return n;
  }

  asio::awaitable<void> write_all(std::string data) {
    boost::system::error_code ec;
    if (tls) std::tie(ec, std::ignore) = co_await asio::async_write(*tls, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
    else std::tie(ec, std::ignore) = co_await asio::async_write(*sock, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
    if (ec) throw std::runtime_error(ec.message());
  }

  // Takes one parsed reply from the reader, if a whole one is buffered.
  bool next_reply(RedisReply& r) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK)
      throw std::runtime_error(std::string("bad reply from Redis: ") + reader->errstr);
    if (!raw) return false;
    r = convert(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    return true;
  }

  // Connects, TLS, AUTH, SELECT and PING; throws what went wrong.
  asio::awaitable<void> connect_once() {
    reader.reset(redisReaderCreate());
    tcp::resolver resolver(strand);
    auto guard = std::make_shared<asio::steady_timer>(strand);
    guard->expires_after(settings.connect_timeout);
    auto timed_out = std::make_shared<bool>(false);
    auto self = shared_from_this();
    guard->async_wait([self, timed_out](boost::system::error_code ec) {
      if (ec) return;
      *timed_out = true;
      if (self->tls || self->sock) {
        boost::system::error_code ignore;
        self->lowest().close(ignore);
      }
    });
    struct Cancel {
      std::shared_ptr<asio::steady_timer> t;
      ~Cancel() { t->cancel(); }
    } cancel{guard};
    auto [rec, results] = co_await resolver.async_resolve(ep.host, ep.port, asio::as_tuple(asio::use_awaitable));
    if (rec) throw std::runtime_error("cannot resolve " + ep.host + ": " + rec.message());
    if (ep.tls) {
      if (!tls_ctx) tls_ctx = net::detail::tls_context(net::TlsOptions(settings.ca_file, settings.verify));
      tls = std::make_unique<asio::ssl::stream<tcp::socket>>(strand, *tls_ctx);
      sock.reset();
      net::detail::prepare_tls(tls->native_handle(), ep.host, settings.verify);
    } else {
      sock = std::make_unique<tcp::socket>(strand);
      tls.reset();
    }
    auto [cec, endpoint] = co_await asio::async_connect(lowest(), results, asio::as_tuple(asio::use_awaitable));
    if (*timed_out) throw std::runtime_error("connect timed out");
    if (cec) throw std::runtime_error("cannot connect: " + cec.message());
    lowest().set_option(tcp::no_delay(true));
    if (tls) {
      auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
      if (hec) throw std::runtime_error("TLS handshake failed: " + hec.message());
    }
    std::string hello;
    int expected = 1;
    if (!ep.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!ep.user.empty()) auth.push_back(ep.user);
      auth.push_back(ep.password);
      encode(hello, auth);
      ++expected;
    }
    if (ep.db != 0) {
      std::vector<std::string> select{"SELECT", std::to_string(ep.db)};
      encode(hello, select);
      ++expected;
    }
    std::vector<std::string> ping{"PING"};
    encode(hello, ping);
    co_await write_all(std::move(hello));
    char buf[4096];
    RedisReply r;
    for (int got = 0; got < expected;) {
      if (next_reply(r)) {
        ++got;
        if (r.error()) {
          // Never echo the password; Redis's own error text does not contain it.
          throw std::runtime_error("Redis refused the connection setup: " + r.str);
        }
        continue;
      }
      const std::size_t n = co_await read_some(asio::buffer(buf));
      if (*timed_out) throw std::runtime_error("connection setup timed out");
      redisReaderFeed(reader.get(), buf, n);
    }
  }

  asio::awaitable<void> read_loop() {
    std::vector<char> buf(16 * 1024);
    RedisReply r;
    for (;;) {
      while (next_reply(r)) {
        if (waiting.empty()) throw std::runtime_error("a reply nobody asked for");
        auto& p = waiting.front();
        p->replies.push_back(std::move(r));
        if (p->replies.size() == p->expected) {
          p->done = true;
          p->timer.cancel();
          waiting.pop_front();
        }
      }
      const std::size_t n = co_await read_some(asio::buffer(buf));
      redisReaderFeed(reader.get(), buf.data(), n);
    }
  }

  // Both loops hold the state (not only `this`): it lives until they end.
  static asio::awaitable<void> write_loop(std::shared_ptr<State> self) {
    co_await self->write_pending();
  }
  asio::awaitable<void> write_pending() {
    try {
      while (up && !out.empty()) {
        std::string chunk = std::move(out);
        out.clear();
        co_await write_all(std::move(chunk));
      }
    } catch (const std::exception& e) {
      writing = false;
      drop(std::string("write failed: ") + e.what());
      co_return;
    }
    writing = false;
  }

  static asio::awaitable<void> run(std::shared_ptr<State> self) { co_await self->run_loop(); }
  asio::awaitable<void> run_loop() {
    auto backoff = settings.backoff_min;
    std::mt19937 rng(std::random_device{}());
    bool first = true;
    while (!stopped) {
      std::string failed;
      try {
        co_await connect_once();
      } catch (const std::exception& e) {
        failed = e.what();
      }
      if (stopped) break;
      if (failed.empty()) {
        if (!first) ++reconnects;
        first = false;
        up = true;
        connected = true;
        set_error("");
        backoff = settings.backoff_min;
        spdlog::info("{}: connected to {}{}", settings.role, ep.display(), ep.tls ? " (TLS)" : "");
        try {
          co_await read_loop();
        } catch (const std::exception& e) {
          failed = e.what();
        }
        drop(failed);
      } else {
        spdlog::warn("{}: cannot reach {}: {}; retrying in {} ms", settings.role, ep.display(), failed, backoff.count());
        drop(failed);
      }
      if (stopped) break;
      std::uniform_int_distribution<long> jitter(0, backoff.count() / 2);
      wake.expires_after(backoff + std::chrono::milliseconds(jitter(rng)));
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
      backoff = std::min(backoff * 2, settings.backoff_max);
    }
  }

  asio::awaitable<std::vector<RedisReply>> issue(std::vector<std::vector<std::string>> commands) {
    if (commands.empty()) co_return std::vector<RedisReply>{};
    if (!up) {
      std::string why;
      {
        std::lock_guard lock(err_mu);
        why = error;
      }
      throw RedisUnavailable("Redis at " + ep.display() + " is unreachable (" + why + ")");
    }
    auto p = std::make_shared<Pending>(strand, commands.size());
    for (const auto& c : commands) encode(out, c);
    waiting.push_back(p);
    if (!writing) {
      writing = true;  // (before the spawn: one writer, however the spawn dispatches)
      vox::spawn(strand, write_loop(shared_from_this()), settings.role + " write");
    }
    p->timer.expires_after(settings.command_timeout);
    co_await p->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!p->done) {
      // A Redis that does not answer in time is treated as gone: the connection is
      // dropped (failing what else waits) and reopened.
      drop("no answer within " + std::to_string(settings.command_timeout.count()) + " ms");
      throw RedisUnavailable("Redis at " + ep.display() + " did not answer within " +
                             std::to_string(settings.command_timeout.count()) + " ms");
    }
    if (!p->failure.empty()) throw RedisUnavailable("Redis at " + ep.display() + " is unreachable (" + p->failure + ")");
    co_return std::move(p->replies);
  }
};

RedisConnection::RedisConnection(asio::any_io_executor exec, RedisSettings settings)
    : endpoint_(parse_redis_url(settings.url)) {
  state_ = std::make_shared<State>(std::move(exec), std::move(settings), endpoint_);
}

RedisConnection::~RedisConnection() { stop(); }

void RedisConnection::start() {
  auto s = state_;
  asio::post(s->strand, [s] { vox::spawn(s->strand, State::run(s), s->settings.role); });
}

void RedisConnection::stop() {
  auto s = state_;
  asio::post(s->strand, [s] {
    if (s->stopped) return;
    s->stopped = true;
    s->wake.cancel();
    s->drop("stopped");
  });
}

asio::awaitable<std::vector<RedisReply>> RedisConnection::pipeline(std::vector<std::vector<std::string>> commands) {
  auto s = state_;
  co_return co_await asio::co_spawn(s->strand, s->issue(std::move(commands)), asio::use_awaitable);
}

asio::awaitable<RedisReply> RedisConnection::command(std::vector<std::string> args) {
  std::vector<std::vector<std::string>> one;
  one.push_back(std::move(args));
  auto replies = co_await pipeline(std::move(one));
  co_return std::move(replies.front());
}

bool RedisConnection::connected() const { return state_->connected.load(); }

std::string RedisConnection::last_error() const {
  std::lock_guard lock(state_->err_mu);
  return state_->error;
}

std::uint64_t RedisConnection::reconnects() const { return state_->reconnects.load(); }

}  // namespace vox::cluster
