#include "cluster/forward.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace vox::cluster {
namespace asio = boost::asio;

net::HttpResponse redis_unreachable_response(const std::string& detail) {
  // Where Redis is and what failed are for the log (the heartbeat reports the outage
  // once), not for the client.
  spdlog::debug("cluster: answering 503: {}", detail);
  auto r = net::HttpResponse::error(
      503, "Redis is unreachable, so this instance cannot reach calls held by other instances; calls go on, try "
           "again shortly");
  r.headers.emplace_back("Retry-After", "2");
  return r;
}

bool was_forwarded(const net::HttpRequest& req) { return !req.header(kForwardedHeader).empty(); }

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Request headers that travel to the owner: what it needs to authenticate and parse.
constexpr std::string_view kRequestHeaders[] = {"Authorization", "X-API-KEY", "xi-api-key", "Content-Type", "Accept"};
// Response headers that travel back.
constexpr std::string_view kResponseHeaders[] = {"Retry-After", "Content-Disposition", "Cache-Control"};

}  // namespace

asio::awaitable<net::HttpResponse> Forwarder::send(const net::HttpRequest& req, Owner owner,
                                                   std::chrono::milliseconds timeout, bool* owner_lost) {
  net::ClientRequest out;
  out.method = req.method;
  out.url = owner.url + req.target;
  for (auto h : kRequestHeaders)
    if (auto v = req.header(h); !v.empty()) out.headers.emplace_back(std::string(h), std::string(v));
  out.headers.emplace_back(std::string(kForwardedHeader), cluster_.instance_id());
  out.body = req.body;
  out.retry_safe = false;
  out.read_timeout = timeout;
  out.budget = timeout + std::chrono::seconds(2);
  std::string failed;
  net::HttpResponse got;
  try {
    got = co_await http_.send(std::move(out));
  } catch (const std::exception& e) {
    failed = e.what();
  }
  if (owner_lost) *owner_lost = !failed.empty();
  if (!failed.empty()) {
    spdlog::warn("cluster: forwarding {} {} to {} failed: {}", req.method, req.path, owner.instance_id, failed);
    auto r = net::HttpResponse::error(503, "The instance that holds this call did not answer; if it stopped, the call "
                                           "ends within the cluster TTL. Try again shortly");
    r.headers.emplace_back("Retry-After", "2");
    co_return r;
  }
  ++forwarded_;
  spdlog::debug("cluster: forwarded {} {} to {} -> {}", req.method, req.path, owner.instance_id, got.status);
  net::HttpResponse r;
  r.status = got.status;
  r.content_type = got.content_type.empty() ? std::string("application/json") : got.content_type;
  r.body = std::move(got.body);
  for (const auto& [k, v] : got.headers)
    for (auto keep : kResponseHeaders)
      if (iequals(k, keep)) r.headers.emplace_back(std::string(keep), v);
  co_return r;
}

asio::awaitable<std::optional<net::HttpResponse>> Forwarder::forward(const net::HttpRequest& req, std::string sid,
                                                                     std::chrono::milliseconds timeout) {
  if (was_forwarded(req) || sid.empty() || cluster_.holds(sid)) co_return std::nullopt;
  const Owner owner = co_await cluster_.owner_of(sid);
  if (owner.kind == Owner::Kind::kUnreachable) co_return redis_unreachable_response(owner.detail);
  if (owner.kind != Owner::Kind::kElsewhere) co_return std::nullopt;
  auto r = co_await send(req, owner, timeout);
  co_return r;
}

}  // namespace vox::cluster
