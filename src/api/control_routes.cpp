// The control API of the ElevenLabs–Twilio integration: its routes, by resource, in
// control_voices.cpp, control_calls.cpp, control_live.cpp and control_history.cpp, and
// the client WebSocket (client_socket.cpp).
#include "api/client_socket.hpp"
#include "api/control_common.hpp"
#include "api/live_calls.hpp"

#include <boost/json.hpp>
#include "cluster/forward.hpp"

namespace vox::api {
namespace asio = boost::asio;

void add_control_routes(net::Router& router, const ControlServices& svc) {
  add_voice_routes(router, svc);
  add_call_routes(router, svc);
  add_live_routes(router, svc);
  add_history_routes(router, svc);
  add_live_calls_route(router, svc);
  if (svc.hub && svc.forwarder) {
    // Another instance holds a call for an agent a socket here waits for: it claims the
    // socket by its token (a random 128-bit secret it got from Redis), and the socket then
    // relays itself to the call's owner as Redis names it (never to an address given here).
    router.add("POST", "/cluster/v1/claim", [&svc](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
      boost::system::error_code ec;
      const auto v = boost::json::parse(req.body, ec);
      const auto* o = !ec && v.is_object() ? &v.as_object() : nullptr;
      const auto* token = o ? o->if_contains("token") : nullptr;
      const auto* sid = o ? o->if_contains("call_sid") : nullptr;
      if (!token || !sid || !token->is_string() || !sid->is_string() || token->as_string().size() > 64 ||
          sid->as_string().empty() || sid->as_string().size() > 64)
        co_return net::HttpResponse::error(400, "Expected {\"token\": \"...\", \"call_sid\": \"...\"}");
      const std::string call_sid(sid->as_string());
      const cluster::Owner owner = co_await svc.forwarder->cluster().owner_of(call_sid);
      // (409: the call may not be registered yet; the claimant tries again.)
      if (owner.kind != cluster::Owner::Kind::kElsewhere)
        co_return net::HttpResponse::error(409, "Call not registered on another instance (yet)");
      co_return claim_for_socket(svc, std::string(token->as_string()), call_sid);
    });
  }
  if (svc.hub) {
    router.add_ws("/api/v1/webrtc/twilio-elevenlabs-stream/{peer_id}/{company_api_key}/{agent_id}",
                  [&svc](const net::HttpRequest& req, net::HttpResponse& reject) -> std::unique_ptr<net::WsHandler> {
                    auto local = svc.hub->open(req, reject);
                    if (!local || !svc.forwarder || cluster::was_forwarded(req)) return local;
                    // Counted against the company's limit across the cluster; a socket naming
                    // a call held by another instance is relayed there.
                    auto sid = peer_call_sid(req.param("peer_id"));
                    const bool names_call = !sid.empty();
                    if (svc.registry.find(sid)) sid.clear();
                    return relay_client_socket(svc, req, std::move(local), std::move(sid), names_call);
                  });
  }
}

}  // namespace vox::api
