#pragma once
// A fault-injecting TCP proxy for tests: it listens on a free loopback port, forwards every
// connection to one upstream (an emulator, a model server, the gateway itself) and, when
// told, damages the traffic the way networks do: latency and jitter, a bandwidth cap, resets,
// a half-open black hole (nothing comes back, not even a FIN) and slow closes. Faults can be
// changed while connections are live; they apply to live and new connections alike.
//
// It runs on its own thread; every method may be called from the test's thread.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace vox::testing {

struct Faults {
  std::chrono::milliseconds latency{0};  // added to every chunk, in each direction
  std::chrono::milliseconds jitter{0};   // plus 0..jitter at random (the byte order is kept)
  std::size_t bytes_per_second = 0;      // 0: no cap; else per direction per connection
  // Bytes are read and dropped in both directions and nothing is closed towards the
  // client: the upstream looks alive to the kernel and dead to the application. A client
  // that closes its side is let go.
  bool blackhole = false;
  // New connections are accepted, then reset at once (RST), as by a crashed upstream.
  bool reset_new = false;
  // A FIN from either side reaches the other side this much later.
  std::chrono::milliseconds slow_close{0};
};

class FaultProxy {
 public:
  // Forwards to host:port (a numeric address or a name the resolver knows).
  FaultProxy(std::string host, unsigned short port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  unsigned short port() const;
  // "scheme://127.0.0.1:port".
  std::string url(std::string_view scheme = "http") const;

  // Replaces the faults (clear() is set({})).
  void set(const Faults& faults);
  void clear();
  Faults faults() const;
  // Resets (RST) every live connection now, both ends; returns how many there were.
  std::size_t reset_all();

  std::size_t accepted() const;           // connections accepted so far
  std::size_t live() const;               // connections not yet closed on both ends
  std::uint64_t bytes_forwarded() const;  // both directions
  std::uint64_t bytes_dropped() const;    // eaten by the black hole
  // Waits (polling, bounded by `timeout`) until accepted() >= n or live() == n.
  bool wait_accepted(std::size_t n, std::chrono::milliseconds timeout) const;
  bool wait_live(std::size_t n, std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace vox::testing
