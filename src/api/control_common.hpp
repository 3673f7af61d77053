#pragma once
// What the control routes share: authentication and the error wrapper every route runs
// in, the lookup of a call a principal may see (live session, registry, store), voice
// checks, and small JSON helpers. Internal to api/.
#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "api/control.hpp"
#include "api/control_codec.hpp"
#include "call/registry.hpp"
#include "call/session.hpp"
#include "net/strand_wait.hpp"
#include "store/call_store.hpp"

namespace vox::api {

inline constexpr std::string_view kBase = "/api/v1/elevenlabs-twilio";

using Handler = std::function<boost::asio::awaitable<net::HttpResponse>(const net::HttpRequest&, const Principal&)>;

// Returns the principal of a request, or throws ApiError 401 when keys are configured and
// the request has no valid one.
Principal authenticate(const Tenants& tenants, const net::HttpRequest& req);

// Turns a handler into a route: authenticates (unless `needs_auth` is false), answers
// ApiError as {"detail"}, and answers anything else as a generic 500 (logged, never
// shown to the client).
net::HttpHandler route(const ControlServices& svc, Handler h, bool needs_auth = true);

net::HttpResponse json_response(int status, const boost::json::value& v);

// Overload control for new work: a 503 with Retry-After while the server sheds load (or,
// with `new_call`, while the calls are at their limit); nullopt when the work may go ahead.
std::optional<net::HttpResponse> refuse_when_overloaded(const ControlServices& svc, bool new_call, std::string_view what);

// Everything known about a call, from the live session, the registry and the store.
// (Not an aggregate: it is returned through a coroutine.)
struct Found {
  Found() {}
  std::shared_ptr<call::CallSession> live;
  std::optional<call::CallRecord> record;
  std::optional<store::StoredCall> stored;
  std::string tenant;  // the owner: the stored one wins
};

// Returns the call if the principal may see it; throws 404 "Call not found" otherwise.
// Ownership, once stored, never changes: the stored owner decides, whatever a live
// session or an in-memory record says.
boost::asio::awaitable<Found> find_call(const ControlServices& svc, std::string sid, Principal who);

// Posts `fn` to the session's strand; await `->get()` on the returned object for its result.
template <typename F>
auto run_on(const std::shared_ptr<call::CallSession>& session, boost::asio::any_io_executor here, F fn) {
  return net::run_on(session->executor(), std::move(here), std::move(fn));
}

// The owner's answer when another instance holds the call of the route's {call_sid}
// (or a 503 when Redis cannot say); nullopt when this instance answers.
boost::asio::awaitable<std::optional<net::HttpResponse>> forward_to_owner(const ControlServices& svc,
                                                                         const net::HttpRequest& req);

// A company's concurrent calls (ControlServices::max_calls_per_company): throws ApiError
// 429 when the company is at its limit. In a cluster it holds `member` (a CallSid, or a
// placeholder while a call is being placed) in Redis, and throws 503 when Redis cannot be
// asked. On one instance the returned slot counts the call as being placed until it is
// destroyed: keep it until the call's record is in the registry. Does nothing without a
// limit.
class PlacingSlot {
 public:
  PlacingSlot() {}
  PlacingSlot(ControlServices::Placing* placing, std::string tenant);
  PlacingSlot(PlacingSlot&& o) noexcept : placing_(std::exchange(o.placing_, nullptr)), tenant_(std::move(o.tenant_)) {}
  PlacingSlot& operator=(PlacingSlot&& o) noexcept;
  ~PlacingSlot();

 private:
  ControlServices::Placing* placing_ = nullptr;
  std::string tenant_;
};
boost::asio::awaitable<PlacingSlot> admit_company_call(const ControlServices& svc, const Principal& who,
                                                       std::string member);
// The same on this instance alone (no Redis), for calls that start without the control
// API too (browser calls). Throws ApiError 429.
PlacingSlot admit_company_call_here(const ControlServices& svc, const std::string& tenant, const std::string& member);
// How long a placed or registered call counts before its stream starts (it rings meanwhile).
inline constexpr std::chrono::minutes kCallHold{2};

// Writes a call the control API just placed or registered into the store, with its status event.
void store_registered(const ControlServices& svc, const call::CallRecord& rec);

// Whether the voice exists; 502 when the provider cannot be asked.
boost::asio::awaitable<bool> voice_known(const ControlServices& svc, std::string voice_id);
// Throws 404 "Invalid voice ID" unless the voice exists ("" always does).
// Returns the voice a request's `voice_id` speaks with ("" = the default voice), or throws
// ApiError 404 for a voice that does not exist. An ElevenLabs voice id named while
// ElevenLabs is not configured speaks with the embedded voice: the old service's examples
// then end in a working call; `note` (if given) and the log say so.
boost::asio::awaitable<std::string> require_voice(const ControlServices& svc, std::string voice_id,
                                                  std::string* note = nullptr);

// The base URL of this server as the request reached it.
std::string base_of(const ApiSettings& settings, const net::HttpRequest& req);
std::string query_value(const net::HttpRequest& req, std::string_view key);
// The integer query parameter `key` (fallback when absent); 400 outside lo..hi.
int int_query(const net::HttpRequest& req, std::string_view key, int fallback, int lo, int hi);

boost::json::value null_or(const std::string& s);
boost::json::value null_or_value(const std::optional<std::string>& s);
boost::json::value metadata_value(const std::string& text);

// Adds the routes of each resource (control_*.cpp).
void add_voice_routes(net::Router& router, const ControlServices& svc);
void add_call_routes(net::Router& router, const ControlServices& svc);
void add_live_routes(net::Router& router, const ControlServices& svc);
void add_history_routes(net::Router& router, const ControlServices& svc);

}  // namespace vox::api
