#pragma once
// What the HTTP APIs need to know: the public URL Twilio uses, the keys that guard the
// control API, the turn API and /metrics, and the limits on what a client may send.
#include <cstddef>
#include <string>
#include <vector>

namespace vox::api {

struct ApiSettings {
  std::string base_url;                 // public URL Twilio reaches us at (WEBHOOK_BASE_URL / BASE_URL)
  std::vector<std::string> api_keys;    // "tenant:key" entries (VOX_API_KEYS, comma-separated)
  std::string api_keys_file;            // one "tenant key" per line
  std::string generate_api_key;         // the turn API GET /generate: X-API-KEY must equal this; unset = refused
  std::string metrics_token;            // GET /metrics needs Authorization: Bearer <token>
  std::string metrics_listen;           // serve /metrics on this host:port instead of the main port
  std::size_t max_text_chars = 5000;    // per text to speak
  std::size_t max_ws_message_bytes = 64 * 1024;  // one client WebSocket message
  int max_client_sockets_per_key = 20;  // open client WebSockets per company key
  bool relaxed_call_sids = false;       // accept call sids of any shape (tests, demos)
};

}  // namespace vox::api
