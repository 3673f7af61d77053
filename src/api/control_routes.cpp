// The control API of the ElevenLabs–Twilio integration: its routes, by resource, in
// control_voices.cpp, control_calls.cpp, control_live.cpp and control_history.cpp, and
// the client WebSocket (client_socket.cpp).
#include "api/client_socket.hpp"
#include "api/control_common.hpp"

namespace vox::api {

void add_control_routes(net::Router& router, const ControlServices& svc) {
  add_voice_routes(router, svc);
  add_call_routes(router, svc);
  add_live_routes(router, svc);
  add_history_routes(router, svc);
  if (svc.hub) {
    router.add_ws("/api/v1/webrtc/twilio-elevenlabs-stream/{peer_id}/{company_api_key}/{agent_id}",
                  [&svc](const net::HttpRequest& req, net::HttpResponse& reject) { return svc.hub->open(req, reject); });
  }
}

}  // namespace vox::api
