#pragma once
// Runs an emulator's loop on `threads` threads until SIGINT or SIGTERM; then `on_signal`
// (e.g. hang up calls), the server's shutdown, and the loop stops.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <functional>
#include <thread>
#include <vector>

#include "net/server.hpp"

namespace vox::app {

// `ready` runs once the signals are handled (write the port file there: whoever waits for
// it may send SIGTERM at once).
inline void serve_until_signal(boost::asio::io_context& ioc, net::Server& server, int threads,
                               const std::function<void()>& ready, const std::function<void()>& on_signal = {}) {
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) {
    if (on_signal) on_signal();
    server.shutdown();
    ioc.stop();
  });
  ready();
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
}

}  // namespace vox::app
