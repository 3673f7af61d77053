#pragma once
// Starts a coroutine detached from its caller, with whatever escapes it logged: the one
// way voxbridge spawns background work (an exception must never vanish).
#include <boost/asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include <exception>
#include <string>

namespace vox {

// Runs `task` on `where` (an executor or an io_context); an exception escaping it is
// logged as "<what> failed: ...".
template <typename Where, typename Awaitable>
void spawn(Where&& where, Awaitable task, std::string what) {
  boost::asio::co_spawn(std::forward<Where>(where), std::move(task), [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::error("{} failed: {}", what, x.what());
    } catch (...) {
      spdlog::error("{} failed with an unknown exception", what);
    }
  });
}

}  // namespace vox
