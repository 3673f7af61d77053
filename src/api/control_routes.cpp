// The control API of the ElevenLabs–Twilio integration: its routes, by resource, in
// control_voices.cpp, control_calls.cpp, control_live.cpp and control_history.cpp, and
// the client WebSocket (client_socket.cpp).
#include "api/client_socket.hpp"
#include "api/control_common.hpp"
#include "cluster/forward.hpp"

namespace vox::api {

void add_control_routes(net::Router& router, const ControlServices& svc) {
  add_voice_routes(router, svc);
  add_call_routes(router, svc);
  add_live_routes(router, svc);
  add_history_routes(router, svc);
  if (svc.hub) {
    router.add_ws("/api/v1/webrtc/twilio-elevenlabs-stream/{peer_id}/{company_api_key}/{agent_id}",
                  [&svc](const net::HttpRequest& req, net::HttpResponse& reject) -> std::unique_ptr<net::WsHandler> {
                    auto local = svc.hub->open(req, reject);
                    if (!local || !svc.forwarder || cluster::was_forwarded(req)) return local;
                    // Counted against the company's limit across the cluster; a socket naming
                    // a call held by another instance is relayed there.
                    auto sid = peer_call_sid(req.param("peer_id"));
                    if (svc.registry.find(sid)) sid.clear();
                    return relay_client_socket(svc, req, std::move(local), std::move(sid));
                  });
  }
}

}  // namespace vox::api
