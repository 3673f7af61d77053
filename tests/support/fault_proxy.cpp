// The fault-injecting proxy: one io_context on its own thread; per connection, two
// directions, each a reader coroutine (reads, applies the black hole, stamps each chunk
// with the time it may leave) and a writer coroutine (waits for that time, writes, then
// pays the bandwidth cap). A queue between them keeps latency a delay, not a throughput cap.
#include "support/fault_proxy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace vox::testing {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kChunk = 16 * 1024;
}  // namespace

struct FaultProxy::Impl {
  // (Declared before the io_context: its destructor destroys the coroutines still
  // pending, whose connections count themselves out here.)
  mutable std::mutex mutex;
  Faults faults_;
  std::mt19937 rng{12345};  // io thread only

  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> live{0};
  std::atomic<std::uint64_t> forwarded{0};
  std::atomic<std::uint64_t> dropped{0};

  struct Conn;
  std::vector<std::weak_ptr<Conn>> conns;  // io thread only

  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  tcp::endpoint upstream;
  std::thread thread;

  Faults current() const {
    std::lock_guard lock(mutex);
    return faults_;
  }

  // One connection: the client's socket and the upstream's.
  struct Conn {
    explicit Conn(Impl& o) : owner(o), client(o.ioc), server(o.ioc) {}
    ~Conn() {
      if (counted) --owner.live;
    }
    Impl& owner;
    bool counted = false;  // accepted (the one waiting in accept() is not live)
    tcp::socket client;
    tcp::socket server;
    bool closed = false;
    // Closes both ends with RST (SO_LINGER 0): what a crashed peer or a middlebox does.
    void reset() {
      if (closed) return;
      closed = true;
      boost::system::error_code ec;
      for (auto* s : {&client, &server}) {
        s->set_option(asio::socket_base::linger(true, 0), ec);
        s->close(ec);
      }
    }
  };

  // One direction of a connection.
  struct Direction : std::enable_shared_from_this<Direction> {
    Direction(std::shared_ptr<Conn> c, bool up) : conn(std::move(c)), upstream(up), wake(conn->owner.ioc) {}
    std::shared_ptr<Conn> conn;
    bool upstream;  // client -> server
    asio::steady_timer wake;
    struct Chunk {
      Clock::time_point due;
      std::string data;  // empty: the sender's FIN
    };
    std::deque<Chunk> queue;
    Clock::time_point last_due{};
    Clock::time_point next_free{};  // when the bandwidth cap lets the next byte go
    bool reader_done = false;

    tcp::socket& from() { return upstream ? conn->client : conn->server; }
    tcp::socket& to() { return upstream ? conn->server : conn->client; }

    Clock::time_point due_time(const Faults& f) {
      auto delay = f.latency;
      if (f.jitter.count() > 0) {
        std::uniform_int_distribution<long> d(0, f.jitter.count());
        delay += std::chrono::milliseconds(d(conn->owner.rng));
      }
      last_due = std::max(Clock::now() + delay, last_due);
      return last_due;
    }

    void push(Chunk c) {
      queue.push_back(std::move(c));
      wake.cancel();
    }

    asio::awaitable<void> read_loop() {
      auto self = shared_from_this();
      std::string buf(kChunk, '\0');
      for (;;) {
        auto [ec, n] = co_await from().async_read_some(asio::buffer(buf), kTuple);
        const Faults f = conn->owner.current();
        if (conn->closed) break;
        if (ec) {
          if (f.blackhole && !upstream) {
            // The upstream went away behind the black hole: the client is not told.
            break;
          }
          if (ec == asio::error::eof) {
            push(Chunk{due_time(f), {}});
          } else {
            conn->reset();
          }
          break;
        }
        if (f.blackhole) {
          conn->owner.dropped += n;
          continue;
        }
        push(Chunk{due_time(f), buf.substr(0, n)});
      }
      reader_done = true;
      wake.cancel();
    }

    asio::awaitable<void> write_loop() {
      auto self = shared_from_this();
      asio::steady_timer timer(conn->owner.ioc);
      for (;;) {
        if (queue.empty()) {
          if (reader_done || conn->closed) break;
          wake.expires_at(Clock::time_point::max());
          co_await wake.async_wait(kTuple);
          continue;
        }
        timer.expires_at(queue.front().due);
        co_await timer.async_wait(kTuple);
        if (conn->closed) break;
        Chunk chunk = std::move(queue.front());
        queue.pop_front();
        if (chunk.data.empty()) {  // the FIN, passed on (late if asked)
          const auto slow = conn->owner.current().slow_close;
          if (slow.count() > 0) {
            timer.expires_after(slow);
            co_await timer.async_wait(kTuple);
          }
          boost::system::error_code ec;
          to().shutdown(tcp::socket::shutdown_send, ec);
          break;
        }
        // The cap: pieces of 20 ms worth, each leaving when the one before has drained.
        const auto bps = conn->owner.current().bytes_per_second;
        const std::size_t piece = bps > 0 ? std::max<std::size_t>(1, bps / 50) : chunk.data.size();
        bool failed = false;
        for (std::size_t off = 0; off < chunk.data.size(); off += piece) {
          if (bps > 0 && next_free > Clock::now()) {
            timer.expires_at(next_free);
            co_await timer.async_wait(kTuple);
            if (conn->closed) co_return;
          }
          const std::size_t len = std::min(piece, chunk.data.size() - off);
          auto [ec, n] = co_await asio::async_write(to(), asio::buffer(chunk.data.data() + off, len), kTuple);
          if (ec) {
            conn->reset();
            failed = true;
            break;
          }
          conn->owner.forwarded += n;
          if (bps > 0)
            next_free = std::max(next_free, Clock::now()) +
                        std::chrono::microseconds(static_cast<long>(double(n) * 1'000'000.0 / double(bps)));
        }
        if (failed) break;
      }
    }
  };

  asio::awaitable<void> serve(std::shared_ptr<Conn> conn) {
    if (current().reset_new) {
      conn->reset();
      co_return;
    }
    auto [ec] = co_await conn->server.async_connect(upstream, kTuple);
    if (ec) {  // the upstream refuses: so does the proxy
      conn->reset();
      co_return;
    }
    for (bool up : {true, false}) {
      auto d = std::make_shared<Direction>(conn, up);
      asio::co_spawn(ioc, d->read_loop(), asio::detached);
      asio::co_spawn(ioc, d->write_loop(), asio::detached);
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto conn = std::make_shared<Conn>(*this);
      auto [ec] = co_await acceptor.async_accept(conn->client, kTuple);
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;
      ++accepted;
      ++live;
      conn->counted = true;
      boost::system::error_code ignored;
      conn->client.set_option(tcp::no_delay(true), ignored);
      std::erase_if(conns, [](const std::weak_ptr<Conn>& w) { return w.expired(); });
      conns.push_back(conn);
      asio::co_spawn(ioc, serve(conn), asio::detached);
    }
  }

  // Runs `f` on the io thread and waits for its result.
  template <class F>
  auto on_io(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(ioc, [&task] { task(); });
    return result.get();
  }
};

FaultProxy::FaultProxy(std::string host, unsigned short port) : impl_(std::make_shared<Impl>()) {
  auto& im = *impl_;
  tcp::resolver resolver(im.ioc);
  auto results = resolver.resolve(host, std::to_string(port));
  if (results.empty()) throw std::runtime_error("fault proxy: cannot resolve " + host);
  im.upstream = results.begin()->endpoint();
  im.acceptor.open(tcp::v4());
  im.acceptor.set_option(asio::socket_base::reuse_address(true));
  im.acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  im.acceptor.listen();
  asio::co_spawn(im.ioc, im.accept_loop(), asio::detached);
  im.thread = std::thread([this] { impl_->ioc.run(); });
}

FaultProxy::~FaultProxy() {
  impl_->on_io([this] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    for (auto& w : impl_->conns)
      if (auto c = w.lock()) c->reset();
    return 0;
  });
  impl_->ioc.stop();
  impl_->thread.join();
}

unsigned short FaultProxy::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string FaultProxy::url(std::string_view scheme) const {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port());
}

void FaultProxy::set(const Faults& faults) {
  std::lock_guard lock(impl_->mutex);
  impl_->faults_ = faults;
}

void FaultProxy::clear() { set(Faults{}); }

Faults FaultProxy::faults() const { return impl_->current(); }

std::size_t FaultProxy::reset_all() {
  return impl_->on_io([this] {
    std::size_t n = 0;
    for (auto& w : impl_->conns)
      if (auto c = w.lock(); c && !c->closed) {
        c->reset();
        ++n;
      }
    return n;
  });
}

std::size_t FaultProxy::accepted() const { return impl_->accepted; }
std::size_t FaultProxy::live() const { return impl_->live; }
std::uint64_t FaultProxy::bytes_forwarded() const { return impl_->forwarded; }
std::uint64_t FaultProxy::bytes_dropped() const { return impl_->dropped; }

namespace {
template <class Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling for a state, bounded by the deadline
  }
}
}  // namespace

bool FaultProxy::wait_accepted(std::size_t n, std::chrono::milliseconds timeout) const {
  return poll_until([&] { return accepted() >= n; }, timeout);
}

bool FaultProxy::wait_live(std::size_t n, std::chrono::milliseconds timeout) const {
  return poll_until([&] { return live() == n; }, timeout);
}

}  // namespace vox::testing
