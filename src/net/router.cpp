#include "net/router.hpp"

#include <spdlog/spdlog.h>

namespace vox::net {

void WsHandler::on_binary(std::string_view message) {
  spdlog::warn("ws binary frame ignored bytes={} (this endpoint speaks JSON text frames)", message.size());
}

namespace {
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i <= path.size()) {
    const auto j = path.find('/', i);
    const auto end = j == std::string_view::npos ? path.size() : j;
    if (end > i) out.push_back(path.substr(i, end - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

bool is_param(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }
}  // namespace

Router::Pattern Router::compile(std::string_view path) {
  Pattern p;
  for (auto seg : split_path(path)) {
    if (!is_param(seg)) ++p.literals;
    p.segments.emplace_back(seg);
  }
  return p;
}

bool Router::Pattern::match(std::string_view path, std::map<std::string, std::string, std::less<>>* params) const {
  const auto parts = split_path(path);
  if (parts.size() != segments.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (!is_param(segments[i]) && segments[i] != parts[i]) return false;
  if (params) {
    for (std::size_t i = 0; i < parts.size(); ++i)
      if (is_param(segments[i])) (*params)[segments[i].substr(1, segments[i].size() - 2)] = std::string(parts[i]);
  }
  return true;
}

void Router::add(std::string method, std::string path, HttpHandler handler) {
  http_.push_back({std::move(method), compile(path), std::move(handler)});
}

void Router::add_ws(std::string path, WsFactory factory) { ws_.push_back({compile(path), std::move(factory)}); }

const HttpHandler* Router::find(std::string_view method, std::string_view path, bool& path_known,
                                std::map<std::string, std::string, std::less<>>* params) const {
  path_known = false;
  const HttpRoute* best = nullptr;
  for (const auto& route : http_) {
    if (!route.pattern.match(path, nullptr)) continue;
    if (route.method != method) {
      path_known = true;
      continue;
    }
    if (!best || route.pattern.literals > best->pattern.literals) best = &route;
  }
  if (!best) return nullptr;
  if (params) best->pattern.match(path, params);
  return &best->handler;
}

namespace {
// Whether a route parameter carries a credential (its value must never be logged).
bool secret_param(std::string_view seg) {
  if (!is_param(seg)) return false;
  for (const char* word : {"key", "token", "secret", "password"})
    if (seg.find(word) != std::string_view::npos) return true;
  return false;
}
}  // namespace

std::string Router::loggable_path(std::string_view path) const {
  const auto parts = split_path(path);
  std::vector<bool> hide(parts.size(), false);
  auto mark = [&](const Pattern& p) {
    // A path that follows the pattern's literals up to a secret segment hides that segment,
    // even when it goes on differently after it (a wrong path still carries the key).
    for (std::size_t i = 0; i < p.segments.size() && i < parts.size(); ++i) {
      if (secret_param(p.segments[i])) hide[i] = true;
      else if (!is_param(p.segments[i]) && p.segments[i] != parts[i]) break;
    }
  };
  for (const auto& r : http_) mark(r.pattern);
  for (const auto& r : ws_) mark(r.pattern);
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    out += '/';
    out += hide[i] ? std::string_view("***") : parts[i];
  }
  if (out.empty() || (!path.empty() && path.back() == '/')) out += '/';
  if (out.size() > 200) {
    out.resize(200);
    out.append("...");
  }
  return out;
}

const WsFactory* Router::find_ws(std::string_view path, std::map<std::string, std::string, std::less<>>* params) const {
  const WsRoute* best = nullptr;
  for (const auto& route : ws_)
    if (route.pattern.match(path, nullptr) && (!best || route.pattern.literals > best->pattern.literals)) best = &route;
  if (!best) return nullptr;
  if (params) best->pattern.match(path, params);
  return &best->factory;
}

}  // namespace vox::net
