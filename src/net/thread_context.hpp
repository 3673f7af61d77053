#pragma once
// Which io_context the calling thread runs. The server runs one io_context per network
// thread (app::Runtime) and each connection on one of them; work a call starts for itself
// (a TTS or STT stream, a provider request) starts on the same io_context, so a call's
// sockets, timers and handlers stay on one thread and nothing crosses threads per frame.
#include <boost/asio/io_context.hpp>

namespace vox::net {

namespace detail {
inline thread_local boost::asio::io_context* this_thread_context = nullptr;
}  // namespace detail

// The io_context this thread runs, or `fallback` on a thread that runs none (a worker, a
// test's main thread).
inline boost::asio::io_context& context_of_this_thread(boost::asio::io_context& fallback) {
  return detail::this_thread_context ? *detail::this_thread_context : fallback;
}

// Marks the calling thread as the one that runs `ctx`, for as long as it lives.
class ThisThreadRuns {
 public:
  explicit ThisThreadRuns(boost::asio::io_context& ctx) : previous_(detail::this_thread_context) {
    detail::this_thread_context = &ctx;
  }
  ~ThisThreadRuns() { detail::this_thread_context = previous_; }
  ThisThreadRuns(const ThisThreadRuns&) = delete;
  ThisThreadRuns& operator=(const ThisThreadRuns&) = delete;

 private:
  boost::asio::io_context* previous_;
};

}  // namespace vox::net
