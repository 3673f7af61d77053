#include "net/router.hpp"

#include <spdlog/spdlog.h>

namespace vox::net {

void WsHandler::on_binary(std::string_view message) {
  spdlog::warn("ws binary frame ignored bytes={} (this endpoint speaks JSON text frames)", message.size());
}

void Router::add(std::string method, std::string path, HttpHandler handler) {
  http_[{std::move(method), std::move(path)}] = std::move(handler);
}

void Router::add_ws(std::string path, WsFactory factory) { ws_[std::move(path)] = std::move(factory); }

const HttpHandler* Router::find(std::string_view method, std::string_view path, bool& path_known) const {
  path_known = false;
  for (const auto& [key, handler] : http_) {
    if (key.second != path) continue;
    path_known = true;
    if (key.first == method) return &handler;
  }
  return nullptr;
}

const WsFactory* Router::find_ws(std::string_view path) const {
  const auto it = ws_.find(path);
  return it == ws_.end() ? nullptr : &it->second;
}

}  // namespace vox::net
