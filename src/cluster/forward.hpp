#pragma once
// Forwarding control actions to the instance that holds the call. A request for a call
// held elsewhere is sent, as it came (method, path and query, body, the caller's own
// credentials), to the owner's URL with X-Voxbridge-Forwarded set; the owner runs its
// usual handler and its answer is returned unchanged. A forwarded request is never
// forwarded again (no loops when two instances disagree for a moment). Client WebSockets
// are relayed the same way, message by message (ws_relay.hpp).
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "cluster/cluster.hpp"
#include "net/client.hpp"
#include "net/http_types.hpp"

namespace vox::cluster {

inline constexpr std::string_view kForwardedHeader = "X-Voxbridge-Forwarded";

// The 503 answered when Redis cannot say where a call is.
net::HttpResponse redis_unreachable_response(const std::string& detail);

class Forwarder {
 public:
  Forwarder(Cluster& cluster, net::HttpClient& http) : cluster_(cluster), http_(http) {}

  // The owner's answer when `sid` is held by another instance; a 503 when Redis cannot
  // be asked or the owner does not answer; nullopt when this instance should answer
  // (it holds the call, nobody does, or `req` was itself forwarded here).
  // `timeout`: how long the owner may take (a long-poll's own timeout plus a margin).
  boost::asio::awaitable<std::optional<net::HttpResponse>> forward(const net::HttpRequest& req, std::string sid,
                                                                   std::chrono::milliseconds timeout);
  // The same once the owner is known. `owner_lost` (if given) is set when the owner did
  // not answer at all (the answer is then our 503, not one of the owner's).
  boost::asio::awaitable<net::HttpResponse> send(const net::HttpRequest& req, Owner owner,
                                                 std::chrono::milliseconds timeout, bool* owner_lost = nullptr);

  Cluster& cluster() { return cluster_; }
  net::HttpClient& http() { return http_; }
  std::uint64_t forwarded() const { return forwarded_; }

 private:
  Cluster& cluster_;
  net::HttpClient& http_;
  std::atomic<std::uint64_t> forwarded_{0};
};

// Whether a request came from another instance.
bool was_forwarded(const net::HttpRequest& req);

}  // namespace vox::cluster
