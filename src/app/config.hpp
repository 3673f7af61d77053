#pragma once
// Everything a voxbridge server is told: the process's own settings plus each module's
// settings struct (defined beside the code it configures). The CLI fills it from flags,
// then the environment, then `.env` (flags win); the composition root hands each module
// only its own part, so credentials reach only the clients that use them.
#include <cstdint>
#include <string>
#include <vector>

#include "agent/agent.hpp"
#include "api/settings.hpp"
#include "call/settings.hpp"
#include "elevenlabs/types.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/sphinx_stt.hpp"
#include "twilio/settings.hpp"

namespace vox::app {

// The TTS cache as configured (see speech::CachingTts).
struct TtsCacheSettings {
  bool enabled = true;
  std::size_t memory_mb = 64;
  std::string dir;  // empty: memory only
  std::size_t disk_mb = 512;
  std::vector<std::string> prewarm;  // phrases synthesized at start (the greeting always is)
};

struct ServerConfig {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8001;
  std::string log_level = "info";
  int threads = 1;  // network threads; 0 = hardware concurrency (see docs/performance.md)
  int shutdown_deadline_ms = 5000;
  int http_idle_timeout_s = 30;  // an HTTP request must arrive whole within this; idle keep-alive closes after it
  int ws_idle_timeout_s = 300;   // a WebSocket peer silent this long is dropped
  int media_timeout_s = 10;      // a Twilio media stream silent this long is dropped (its call ends)
  std::size_t max_http_body_bytes = 1024 * 1024;
  std::size_t max_ws_message_bytes = 64 * 1024;  // one media (or client) WebSocket message
  std::string store_path = "voxbridge.db";       // SQLite call store
  std::string instance_id;                       // this server's name in the call store (default hostname:port)
  int store_delay_ms = 0;                        // tests: every store read and commit waits this long first
  // Overload: new work is refused while an event loop lagged more than this within the
  // hold (0: never on lag; the call limit still applies). See net/load_monitor.hpp.
  int shed_lag_ms = 200;
  int shed_hold_ms = 2000;
  // SIGTERM first drains: no new calls (webhooks 503, /health/ready 503), live calls may
  // finish for up to this long; then the rest end as before. 0 = end them at once.
  int drain_timeout_s = 0;

  // Several instances as one (docs/deploy.md). Empty redis_url: this instance alone.
  struct Cluster {
    std::string redis_url;       // redis://[:password@]host:port[/db], rediss:// for TLS
    std::string redis_ca_file;   // rediss://: CA bundle instead of the system's
    std::string advertise_url;   // how the other instances reach this one (default http://<host>:<port>)
    int heartbeat_ms = 1000;
    int ttl_ms = 5000;           // an instance silent this long has lost its calls
    int redis_timeout_ms = 1000; // one Redis command
    int max_calls_per_company = 0;  // concurrent calls per company (across the cluster with Redis); 0 = no limit
  } cluster;

  call::CallSettings call;
  agent::AgentSettings agent;
  api::ApiSettings api;
  speech::EspeakSettings espeak;
  speech::SphinxSettings sphinx;
  TtsCacheSettings tts_cache;
  elevenlabs::Settings elevenlabs;
  twilio::AccountSettings twilio;
};

}  // namespace vox::app
