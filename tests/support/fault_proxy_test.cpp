// The fault proxy against a plain echo server: each fault does what it says, and a proxy
// without faults is transparent.
#include "support/fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace vox::testing {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int listen_any(unsigned short& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) throw std::runtime_error("listen");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// An upstream that echoes what it reads; with `say_and_close`, it sends that text and
// closes instead.
class Upstream {
 public:
  explicit Upstream(std::string say_and_close = {}) : say_(std::move(say_and_close)) {
    fd_ = listen_any(port_);
    accepter_ = std::thread([this] {
      for (;;) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard lock(mutex_);
        workers_.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~Upstream() {
    ::shutdown(fd_, SHUT_RDWR);
    accepter_.join();
    ::close(fd_);
    std::lock_guard lock(mutex_);
    for (auto& w : workers_) w.join();
  }
  unsigned short port() const { return port_; }

 private:
  void serve(int c) {
    if (!say_.empty()) {
      (void)::send(c, say_.data(), say_.size(), MSG_NOSIGNAL);
      ::close(c);
      return;
    }
    char buf[4096];
    for (;;) {
      const auto n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    ::close(c);
  }
  std::string say_;
  int fd_ = -1;
  unsigned short port_ = 0;
  std::thread accepter_;
  std::mutex mutex_;
  std::list<std::thread> workers_;
};

// A blocking client socket with bounded reads.
class Client {
 public:
  explicit Client(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect");
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const std::string& s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }
  // Reads until `n` bytes arrived, the peer closed or failed, or `timeout` passed.
  struct Read {
    std::string data;
    bool eof = false;
    int error = 0;  // errno of a failed read (ECONNRESET after a reset)
  };
  Read read(std::size_t n, std::chrono::milliseconds timeout) {
    Read r;
    const auto deadline = Clock::now() + timeout;
    while (r.data.size() < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buf[4096];
      const auto got = ::recv(fd_, buf, sizeof buf, 0);
      if (got < 0) {
        r.error = errno;
        break;
      }
      if (got == 0) {
        r.eof = true;
        break;
      }
      r.data.append(buf, static_cast<std::size_t>(got));
    }
    return r;
  }

 private:
  int fd_ = -1;
};

long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

TEST(FaultProxy, WithoutFaultsItIsTransparent) {
  Upstream up;
  FaultProxy proxy("127.0.0.1", up.port());
  Client c(proxy.port());
  std::string big(100000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  c.send(big);
  auto r = c.read(big.size(), 5s);
  EXPECT_EQ(r.data, big);
  EXPECT_TRUE(proxy.wait_accepted(1, 1s));
  c.close();
  EXPECT_TRUE(proxy.wait_live(0, 5s)) << proxy.live();
  EXPECT_EQ(proxy.bytes_forwarded(), 2 * big.size());  // (counted once each write has completed)
}

TEST(FaultProxy, LatencyDelaysEachWayAndJitterKeepsTheOrder) {
  Upstream up;
  FaultProxy proxy("127.0.0.1", up.port());
  proxy.set(Faults{.latency = 150ms, .jitter = 40ms});
  Client c(proxy.port());
  const auto t0 = Clock::now();
  std::string sent;
  for (int i = 0; i < 50; ++i) {  // separate chunks, each with its own random delay
    const std::string m = "<" + std::to_string(i) + ">";
    c.send(m);
    sent += m;
    std::this_thread::sleep_for(2ms);  // pacing the sender so the chunks stay separate, not waiting for an event
  }
  auto r = c.read(sent.size(), 10s);
  EXPECT_EQ(r.data, sent);
  EXPECT_GE(ms_since(t0), 300);  // 150 ms up and 150 ms down at least
}

TEST(FaultProxy, BandwidthCapSlowsTransfer) {
  Upstream up;
  FaultProxy proxy("127.0.0.1", up.port());
  proxy.set(Faults{.bytes_per_second = 40000});
  Client c(proxy.port());
  const std::string data(20000, 'b');
  const auto t0 = Clock::now();
  c.send(data);
  auto r = c.read(data.size(), 10s);
  EXPECT_EQ(r.data.size(), data.size());
  EXPECT_GE(ms_since(t0), 450);  // 20 000 bytes at 40 000 B/s: half a second
}

TEST(FaultProxy, BlackHoleSwallowsEverythingAndClosesNothing) {
  Upstream up;
  FaultProxy proxy("127.0.0.1", up.port());
  Client before(proxy.port());
  before.send("ping");
  ASSERT_EQ(before.read(4, 5s).data, "ping");
  proxy.set(Faults{.blackhole = true});
  before.send("lost");
  Client fresh(proxy.port());
  fresh.send("also lost");
  for (Client* c : {&before, &fresh}) {
    auto r = c->read(1, 300ms);  // nothing comes back, not even a close
    EXPECT_TRUE(r.data.empty());
    EXPECT_FALSE(r.eof);
    EXPECT_EQ(r.error, 0);
  }
  EXPECT_GE(proxy.bytes_dropped(), 13u);
  // A client that gives up is let go; once cleared, new connections work.
  before.close();
  fresh.close();
  EXPECT_TRUE(proxy.wait_live(0, 5s)) << proxy.live();
  proxy.clear();
  Client after(proxy.port());
  after.send("pong");
  EXPECT_EQ(after.read(4, 5s).data, "pong");
}

TEST(FaultProxy, BlackHoleHidesTheUpstreamsClose) {
  Upstream up("bye");
  FaultProxy proxy("127.0.0.1", up.port());
  proxy.set(Faults{.blackhole = true});
  Client c(proxy.port());
  auto r = c.read(3, 300ms);
  EXPECT_TRUE(r.data.empty());
  EXPECT_FALSE(r.eof);
  EXPECT_EQ(proxy.live(), 1u);
}

TEST(FaultProxy, ResetAllResetsLiveConnections) {
  Upstream up;
  FaultProxy proxy("127.0.0.1", up.port());
  Client a(proxy.port()), b(proxy.port());
  a.send("1");
  b.send("2");
  ASSERT_EQ(a.read(1, 5s).data, "1");
  ASSERT_EQ(b.read(1, 5s).data, "2");
  EXPECT_EQ(proxy.reset_all(), 2u);
  for (Client* c : {&a, &b}) {
    auto r = c->read(1, 5s);
    EXPECT_EQ(r.error, ECONNRESET);
  }
  EXPECT_TRUE(proxy.wait_live(0, 5s));
}

TEST(FaultProxy, ResetNewRefusesNewConnectionsUntilCleared) {
  Upstream up;
  FaultProxy proxy("127.0.0.1", up.port());
  proxy.set(Faults{.reset_new = true});
  {
    Client c(proxy.port());
    auto r = c.read(1, 5s);
    EXPECT_TRUE(r.error == ECONNRESET || r.eof) << r.error;
    EXPECT_TRUE(r.data.empty());
  }
  proxy.clear();
  Client c(proxy.port());
  c.send("ok");
  EXPECT_EQ(c.read(2, 5s).data, "ok");
}

TEST(FaultProxy, SlowCloseDelaysTheFin) {
  Upstream up("bye");
  FaultProxy proxy("127.0.0.1", up.port());
  proxy.set(Faults{.slow_close = 400ms});
  const auto t0 = Clock::now();
  Client c(proxy.port());
  auto first = c.read(3, 5s);
  EXPECT_EQ(first.data, "bye");
  auto r = c.read(1, 5s);
  EXPECT_TRUE(r.eof);
  EXPECT_GE(ms_since(t0), 400);
}

TEST(FaultProxy, AnUpstreamThatRefusesIsPassedOnAsAReset) {
  unsigned short closed_port = 0;
  ::close(listen_any(closed_port));  // a port nobody listens on now
  FaultProxy proxy("127.0.0.1", closed_port);
  Client c(proxy.port());
  auto r = c.read(1, 5s);
  EXPECT_TRUE(r.error == ECONNRESET || r.eof) << r.error;
  EXPECT_TRUE(proxy.wait_live(0, 5s));
}

}  // namespace
}  // namespace vox::testing
