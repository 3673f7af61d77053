#pragma once
// The control API of the ElevenLabs–Twilio integration (base path
// /api/v1/elevenlabs-twilio): voices, calls placed and registered, speech into live
// calls, voice changes, the call store's history. Handlers parse JSON into structs at
// the edge (control_codec), check the caller's tenant, and act on calls on their strands.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/tenants.hpp"
#include "api/settings.hpp"
#include "net/router.hpp"
#include "speech/speech.hpp"

namespace vox::call {
class CallRegistry;
}
namespace vox::speech {
class TextToSpeech;
}
namespace vox::store {
class CallStore;
}
namespace vox::metrics {
class Counter;
}
namespace vox::twilio {
class RestClient;
}

namespace vox::net {
class LoadMonitor;
}
namespace vox::cluster {
class Forwarder;
}

namespace vox {
class BlockingPool;
}

namespace vox::api {

class ClientHub;

// The voices of the active TTS engine (ElevenLabs' library, or the embedded voices).
class VoiceCatalog {
 public:
  struct Voice {
    std::string voice_id, name, category, description;
    std::map<std::string, std::string> labels;
  };
  virtual ~VoiceCatalog() = default;
  // Throws std::runtime_error when the provider cannot be asked.
  virtual boost::asio::awaitable<std::vector<Voice>> list() = 0;
  // Returns whether `voice_id` exists ("" always does: the default voice).
  virtual boost::asio::awaitable<bool> exists(std::string voice_id) = 0;
};

struct ControlServices {
  const ApiSettings& settings;
  std::string default_caller_id;  // TWILIO_PHONE_NUMBER: the From of placed calls unless given
  const Tenants& tenants;
  call::CallRegistry& registry;
  store::CallStore& store;
  speech::TextToSpeech& tts;
  VoiceCatalog& voices;
  twilio::RestClient* twilio = nullptr;  // null: no Twilio account configured
  ClientHub* hub = nullptr;
  bool elevenlabs_configured = false;
  // Provider name -> "ok" or what is wrong (for /health).
  std::function<std::map<std::string, std::string>()> provider_status;
  // The voice a call without one speaks with (VOICE_ID, or the embedded engine's voice):
  // what the API reports as its voice_id.
  std::string default_voice_id;
  // Counts speech a fallback engine made instead of the provider (null: not counted).
  metrics::Counter* tts_fallbacks = nullptr;
  // Overload control (null: never refused): new work (placing or registering a call,
  // synthesis, a new client socket) gets 503 with Retry-After while the server sheds load;
  // actions on live calls (stream, stop, voice, hang up) and reads always go ahead.
  net::LoadMonitor* load = nullptr;
  // Several instances as one (null: this instance alone): actions on a call another
  // instance holds are forwarded to it, and company limits are counted cluster-wide.
  cluster::Forwarder* forwarder = nullptr;
  // Concurrent calls per company (0 = no limit): across the cluster with `forwarder`,
  // else on this instance (its live calls and those it placed or registered that ring).
  int max_calls_per_company = 0;
  // Calls of each company being placed or registered here right now (between the limit
  // check and their record), so that concurrent requests cannot pass the check together.
  struct Placing {
    std::mutex mu;
    std::map<std::string, int> by_tenant;
  };
  std::unique_ptr<Placing> placing = std::make_unique<Placing>();
  // Where calls are recorded (--recording-dir; "" = not recorded) and the pool that reads them.
  std::string recording_dir;
  BlockingPool* pool = nullptr;
};

// Adds every control route (and /openapi.json, /docs) to `router`. `services` must
// outlive the router.
void add_control_routes(net::Router& router, const ControlServices& services);
// The console (/console), the softphone page (/phone) and their files (web_routes.cpp).
void add_web_routes(net::Router& router, const ControlServices& services);
// The console's live feed (/console/ws) and its overview (console_feed.cpp).
void add_console_routes(net::Router& router, const ControlServices& services);
// Whether a WebSocket upgrade comes from a page of another site: a browser names the
// page's origin, and it is not this server (Host, or X-Forwarded-Host behind a proxy).
// The pages' sockets refuse those, so a site the user visits cannot drive them.
bool cross_origin(const net::HttpRequest& upgrade);

// Returns the GET /calls/{sid} object (live session, registry, then store); throws
// ApiError 404 when the call is unknown or belongs to another tenant.
boost::asio::awaitable<boost::json::object> call_info(const ControlServices& svc, std::string call_sid, Principal who);

// Records a call's new voice (registry record, store, and a "voice_updated" event); the
// live session is changed by the caller, on its strand.
void record_voice_change(const ControlServices& svc, const std::string& call_sid, const std::string& voice_id,
                         const speech::VoiceSettings& settings);

}  // namespace vox::api
