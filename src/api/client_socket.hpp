#pragma once
// The client WebSocket of the control API:
//   /api/v1/webrtc/twilio-elevenlabs-stream/{peer_id}/{company_api_key}/{agent_id}
// A socket binds to one call: peer_id "twilio_<CallSid>_<anything>" names it; any other
// peer_id takes the next call routed to `agent_id` for that company. Until then it waits
// and answers pings. Once bound it can speak into the call, stop speech, change the
// voice and read the call's info, and it receives the call's audio, transcripts,
// barge-ins, keys and end, so a client can be the call's agent over this one socket.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/control.hpp"
#include "net/router.hpp"

namespace vox::call {
class CallSession;
}

namespace vox::api {

class ClientLink;

// The CallSid in a peer id "twilio_<CallSid>_<anything>", or "".
std::string peer_call_sid(std::string_view peer);

// A client socket in a cluster. First it takes a place in the company's count across the
// cluster (over the limit: an error message and close 1008). Then, for `call_sid` held by
// another instance, it is a relay that opens the same socket on the owner and passes
// messages both ways (the owner answers them as its own); otherwise (no sid, the call is
// here or nowhere yet) the `local` handler serves it as usual. Until that is decided,
// messages are buffered. If the owner's side drops without a close (the instance was
// lost), the client gets call_ended (reason instance_lost).
std::unique_ptr<net::WsHandler> relay_client_socket(const ControlServices& svc, const net::HttpRequest& upgrade,
                                                    std::unique_ptr<net::WsHandler> local, std::string call_sid,
                                                    bool names_call);
// A call for an agent no socket here waited for: offered, through Redis, to a socket
// waiting for that agent on another instance (which then relays itself here).
void offer_to_other_instances(const ControlServices& svc, const call::CallSession& session);
// POST /cluster/v1/claim from the instance that holds `call_sid`: binds the waiting socket
// with `token` to it (200), or 404 when no socket waits with that token any more.
net::HttpResponse claim_for_socket(const ControlServices& svc, const std::string& token, const std::string& call_sid);

class ClientHub {
 public:
  ClientHub() = default;
  // `services` must outlive the hub's sockets; set before the server starts.
  void set_services(const ControlServices* services) { svc_ = services; }

  // The upgrade handler: validates the path, key and limits, or fills `reject`.
  std::unique_ptr<net::WsHandler> open(const net::HttpRequest& req, net::HttpResponse& reject);
  // A call's stream started (on its strand): binds the sockets waiting for it.
  void session_started(const std::shared_ptr<call::CallSession>& session);
  std::size_t waiting() const;

  // Across a cluster (set before the server starts): a call whose agent_id no socket here
  // was waiting for is offered to the sockets other instances hold for that agent.
  std::function<void(const std::shared_ptr<call::CallSession>&)> on_agent_call_unclaimed;
  // Stops `local` (a handler open() returned) from waiting for a call here; true when it
  // was waiting (no call bound it, none will now).
  bool take_waiting(const net::WsHandler* local);
  // Sockets here waiting for an agent's next call anywhere in the cluster, by token: the
  // instance that holds such a call claims one; `claim` returns whether it was still free.
  void add_remote_waiter(const std::string& token, std::function<bool(const std::string& call_sid)> claim);
  void remove_remote_waiter(const std::string& token);
  bool claim_remote_waiter(const std::string& token, const std::string& call_sid);

 private:
  friend class ClientLink;
  friend class ClientSocket;
  void wait(const std::shared_ptr<ClientLink>& link);
  void forget(const ClientLink* link);

  const ControlServices* svc_ = nullptr;
  mutable std::mutex mu_;
  std::vector<std::weak_ptr<ClientLink>> waiting_;
  std::map<std::string, int> sockets_per_key_;
  std::map<std::string, std::function<bool(const std::string&)>> remote_waiters_;
};

}  // namespace vox::api
