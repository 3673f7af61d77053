#include "app/commands/port_file.hpp"
#include "app/commands/serve.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "agent/agent.hpp"
#include "api/client_socket.hpp"
#include "api/control.hpp"
#include "api/control_codec.hpp"
#include "api/generate.hpp"
#include "call/call_metrics.hpp"
#include "call/turns.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "api/routes.hpp"
#include "app/commands/voice_catalog.hpp"
#include "store/call_store.hpp"
#include "store/journal.hpp"
#include "call/media_stream.hpp"
#include "call/registry.hpp"
#include "net/server.hpp"
#include "app/commands/engines.hpp"
#include "twilio/rest_client.hpp"
#include "twilio/twiml.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace vox::app {
namespace asio = boost::asio;

namespace {
// This server's default name in the call store: the host name and the configured port
// (stable across restarts, distinct for two servers on one host).
std::string default_instance_id(const Config& config) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "localhost");
  return std::string(host) + ":" + std::to_string(config.port);
}
}  // namespace

void hide_secrets(const Config& c) {
  for (const auto& entry : c.api_keys) {
    // "tenant:key" entries, possibly several separated by commas.
    std::size_t at = 0;
    while (at <= entry.size()) {
      const auto comma = entry.find(',', at);
      const std::string item = entry.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      const auto colon = item.find_first_of(":= \t");
      redact_in_logs(colon == std::string::npos ? item : item.substr(colon + 1));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
  }
  for (const auto* secret : {&c.twilio.auth_token, &c.twilio.api_key_secret, &c.elevenlabs.api_key, &c.generate_api_key,
                             &c.agent_webhook_secret, &c.metrics_token})
    redact_in_logs(*secret);
}

int run_serve(const Config& config, const ServeOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  const int threads = config.threads > 0 ? config.threads : std::max(1u, std::thread::hardware_concurrency());

  // Threading: all network threads run one io_context; each connection (call) runs on
  // its own strand. (Spreading calls over one io_context per thread was measured in
  // issue 7 and backed out: it tripped a Beast assertion at shutdown under ASan.)
  asio::io_context ioc(threads);
  // Engines: ElevenLabs when a key is configured (embedded engines as fallbacks), else
  // the embedded ones.
  const bool eleven = !config.elevenlabs.api_key.empty();
  if (eleven)
    spdlog::info("loading speech engines: ElevenLabs at {} (tts model={} voice={} via {}, stt={}{}), fallback espeak-ng",
                 config.elevenlabs.base_url, config.elevenlabs.tts_model, config.elevenlabs.voice_id,
                 config.elevenlabs.tts_transport, config.elevenlabs.stt_model,
                 config.elevenlabs.realtime_stt ? "+" + config.elevenlabs.realtime_stt_model : "");
  else
    spdlog::info("loading speech engines: tts=espeak-ng voice={} stt=pocketsphinx mode={} (set ELEVENLABS_API_KEY "
                 "for ElevenLabs)", config.tts.voice, config.stt.mode);
  std::unique_ptr<Engines> engines;
  std::unique_ptr<agent::AgentFactory> agents;
  // The webhook agent's requests (one pool of keep-alive connections, no retries: a
  // turn is not safe to repeat).
  std::unique_ptr<net::HttpClient> agent_http;
  if (!config.agent_webhook_url.empty()) {
    net::HttpClientOptions o;
    o.retry.max_attempts = 1;
    o.read_timeout = std::chrono::milliseconds(config.agent_webhook_timeout_ms);
    o.connect_timeout = std::min(o.connect_timeout, o.read_timeout);
    agent_http = std::make_unique<net::HttpClient>(ioc.get_executor(), o);
  }
  try {
    engines = build_engines(config, ioc, threads);
    agent::AgentSettings agent_settings;
    agent_settings.default_agent = config.agent;
    agent_settings.greeting = config.greeting;
    agent_settings.script_file = config.script_file;
    agent_settings.webhook.url = config.agent_webhook_url;
    agent_settings.webhook.timeout_ms = config.agent_webhook_timeout_ms;
    agent_settings.webhook.fallback_text = config.agent_fallback_text;
    agent_settings.webhook.secret = config.agent_webhook_secret;
    agents = std::make_unique<agent::AgentFactory>(agent_settings, agent_http.get());
    if (config.agent == "webhook" && config.agent_webhook_url.empty())
      throw std::invalid_argument("--agent webhook needs --agent-webhook-url (AGENT_WEBHOOK_URL)");
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
  // Control API keys and the call store.
  api::Tenants tenants;
  std::unique_ptr<store::CallStore> store;
  const std::string instance_id = config.instance_id.empty() ? default_instance_id(config) : config.instance_id;
  std::vector<std::string> orphans;  // calls this instance left live when it last stopped
  try {
    tenants = api::Tenants::load(config.api_keys, config.api_keys_file);
    store = std::make_unique<store::CallStore>(config.store_path, instance_id, &orphans);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
  tenants.for_each_key([](const std::string& key) { redact_in_logs(key); });
  spdlog::info("call store: {} (schema version {}) instance={}", config.store_path, store->schema_version(), instance_id);
  if (!orphans.empty())
    spdlog::warn("{} call(s) were still in progress when this instance ({}) last stopped; closed with reason "
                 "server_restart: {}", orphans.size(), instance_id, fmt::join(orphans, " "));
  if (tenants.open())
    spdlog::warn("control API: NO API KEYS CONFIGURED, so /api/v1/elevenlabs-twilio/* and the client WebSocket are "
                 "OPEN to anyone who can reach this port. Fine on your own machine; in production set VOX_API_KEYS "
                 "(tenant:key,...) or --api-keys-file");
  else
    spdlog::info("control API: {} company key(s) loaded; requests need X-API-KEY or Authorization: Bearer", tenants.size());
  store::CallJournal journal(*store, instance_id);
  check_elevenlabs(*engines, config, ioc);
  if (engines->elevenlabs_tts) engines->elevenlabs_tts->warm_up();
  if (engines->cache) {
    auto phrases = config.tts_cache.prewarm;
    if (!config.greeting.empty()) phrases.push_back(config.greeting);
    engines->cache->prewarm(phrases, "");
  }

  // The Twilio REST client, when the account is configured (hang-ups at shutdown).
  std::unique_ptr<net::HttpClient> twilio_http;
  std::unique_ptr<twilio::RestClient> twilio;
  const bool api_key = !config.twilio.api_key_sid.empty() && !config.twilio.api_key_secret.empty();
  if (!config.twilio.account_sid.empty() && (api_key || !config.twilio.auth_token.empty())) {
    twilio_http = std::make_unique<net::HttpClient>(ioc.get_executor());
    twilio = std::make_unique<twilio::RestClient>(
        *twilio_http, twilio::RestConfig{config.twilio.account_sid,
                                         api_key ? config.twilio.api_key_secret : config.twilio.auth_token,
                                         api_key ? config.twilio.api_key_sid : std::string(),
                                         config.twilio.api_base_url});
  }

  // Transfers go through the Twilio REST API (the call is redirected to <Dial>).
  class TwilioControl final : public call::CallControl {
   public:
    TwilioControl(asio::io_context& ioc, twilio::RestClient* rest, std::string caller_id)
        : ioc_(ioc), rest_(rest), caller_id_(std::move(caller_id)) {}
    void transfer(const std::string& call_sid, const std::string& target) override {
      if (!rest_) return;
      auto* rest = rest_;
      twilio::UpdateCall u;
      u.twiml = twilio::dial(target, caller_id_);
      asio::co_spawn(ioc_, [rest, call_sid, u]() -> asio::awaitable<void> {
        std::optional<std::string> failed;
        try {
          co_await rest->update_call(call_sid, u);
        } catch (const std::exception& e) {
          failed = e.what();
        }
        if (failed) spdlog::error("transfer of call {} failed at Twilio: {}", call_sid, *failed);
        else spdlog::info("call {} redirected to <Dial> at Twilio", call_sid);
      }, asio::detached);
    }

    void send_digits(const agent::CallContext& call, const std::string& digits,
                     std::function<void(bool ok)> done) override {
      if (!rest_) return done(false);
      // The same stream again, with the same parameters; its status callback beside it.
      twilio::StreamTwiml stream;
      stream.url = call.stream_url;
      for (const auto& [k, v] : call.parameters) stream.parameters.emplace_back(k, v);
      std::string http = call.stream_url;
      if (http.rfind("wss://", 0) == 0) http = "https://" + http.substr(6);
      else if (http.rfind("ws://", 0) == 0) http = "http://" + http.substr(5);
      if (const auto at = http.rfind("/media"); at != std::string::npos)
        stream.status_callback = http.substr(0, at) + "/api/v1/twilio/stream-status";
      twilio::UpdateCall u;
      u.twiml = twilio::play_digits_then_connect(digits, stream);
      auto* rest = rest_;
      asio::co_spawn(ioc_, [rest, call_sid = call.call_sid, u, done = std::move(done)]() -> asio::awaitable<void> {
        std::optional<std::string> failed;
        try {
          co_await rest->update_call(call_sid, u);
        } catch (const std::exception& e) {
          failed = e.what();
        }
        if (failed) spdlog::error("sending digits on call {} failed at Twilio: {}", call_sid, *failed);
        else spdlog::info("call {} redirected to <Play digits> and a new stream at Twilio", call_sid);
        done(!failed);
      }, asio::detached);
    }

   private:
    asio::io_context& ioc_;
    twilio::RestClient* rest_;
    std::string caller_id_;
  };
  TwilioControl control(ioc, twilio.get(), config.twilio.phone_number);
  // A killed server's calls may still be connected at Twilio, with nobody behind them.
  if (twilio)
    for (const auto& sid : orphans)
      asio::co_spawn(ioc, [&twilio, sid]() -> asio::awaitable<void> {
        std::optional<std::string> failed;
        try {
          co_await twilio->complete_call(sid);
        } catch (const std::exception& e) {
          failed = e.what();
        }
        if (failed) spdlog::warn("could not complete call {} (left by the previous run) at Twilio: {}", sid, *failed);
        else spdlog::info("call {} (left by the previous run) completed at Twilio", sid);
      }, asio::detached);

  call::CallRegistry registry;
  registry.set_limit(static_cast<std::size_t>(config.max_calls));
  call::CallServices services{config, *engines->tts, *engines->stt, registry, SteadyClock::instance(),
                              twilio ? &control : nullptr, &journal};
  // /metrics: the calls' latencies and counters, and gauges read at scrape time.
  metrics::Registry metrics_registry;
  call::CallMetrics call_metrics(metrics_registry);
  services.metrics = &call_metrics;
  // A call the registry no longer holds (dropped after it ended, or from before a restart)
  // keeps its stored owner, agent and voice.
  services.stored_record = [st = store.get()](const std::string& sid) -> std::optional<call::CallRecord> {
    const auto c = st->call(sid);
    if (!c || c->tenant.empty()) return std::nullopt;
    call::CallRecord r;
    r.call_sid = c->call_sid;
    r.tenant = c->tenant;
    r.agent_id = c->agent_id;
    r.voice_id = c->voice_id;
    r.voice_settings = api::settings_from_text(c->voice_settings_json);
    r.direction = c->direction;
    r.status = c->status;
    r.from = c->from;
    r.to = c->to;
    r.created_at = c->created_at;
    r.metadata_json = c->metadata_json;
    return r;
  };
  api::ClientHub hub;
  // The turn API follows calls only when it is enabled (API_KEY).
  call::TurnHub turns;
  const bool turn_api = !config.generate_api_key.empty();
  services.on_session_started = [&hub, &turns, turn_api](const std::shared_ptr<call::CallSession>& s) {
    hub.session_started(s);
    if (turn_api) turns.session_started(s);
  };

  std::unique_ptr<api::VoiceCatalog> voices;
  if (engines->http && !config.elevenlabs.api_key.empty())
    voices = std::make_unique<ElevenLabsVoices>(*engines->http, elevenlabs_config(config.elevenlabs));
  else
    voices = std::make_unique<EmbeddedVoices>(*engines->tts);

  net::Router router;
  auto* eng = engines.get();
  auto* st = store.get();
  net::Server* server_ptr = nullptr;  // set once the server exists (read at scrape time)
  metrics_registry.callback("voxbridge_active_calls", "Calls with a live media stream",
                            [&registry] { return static_cast<double>(registry.size()); });
  metrics_registry.callback("voxbridge_websockets_open", "Open WebSocket connections (media streams and clients)",
                            [&server_ptr] { return server_ptr ? static_cast<double>(server_ptr->open_websockets()) : 0.0; });
  metrics_registry.callback("voxbridge_client_sockets_waiting", "Client WebSockets waiting for a call",
                            [&hub] { return static_cast<double>(hub.waiting()); });
  metrics_registry.callback("voxbridge_turn_api_calls", "Calls followed by the turn API (/generate)",
                            [&turns] { return static_cast<double>(turns.size()); });
  metrics_registry.callback("voxbridge_uptime_seconds", "Seconds since the server started", [started] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  });
  if (auto* cache = engines->cache.get()) {
    metrics_registry.callback("voxbridge_tts_cache_hits_total", "Replies served from the TTS cache (memory or disk)",
                              [cache] {
                                const auto st = cache->stats();
                                return static_cast<double>(st.hits + st.disk_hits);
                              }, "counter");
    metrics_registry.callback("voxbridge_tts_cache_misses_total", "Replies synthesized because they were not cached",
                              [cache] { return static_cast<double>(cache->stats().misses); }, "counter");
    metrics_registry.callback("voxbridge_tts_cache_entries", "Replies held in the TTS cache",
                              [cache] { return static_cast<double>(cache->stats().entries); });
    metrics_registry.callback("voxbridge_tts_cache_bytes", "Audio bytes held in the TTS cache's memory",
                              [cache] { return static_cast<double>(cache->stats().memory_bytes); });
  }
  api::add_core_routes(router, api::RouteContext{config, registry, engines->tts->name(), engines->stt->name(), started,
                                                 [eng] { return eng->status(); },
                                                 [&registry, st, &turns](const std::string& sid, const std::string& status,
                                                                 const std::string&) {
                                                   turns.call_status(sid, status);
                                                   registry.update_record(sid, [&](call::CallRecord& r) { r.status = status; });
                                                   const bool over = twilio::is_terminal_status(status);
                                                   if (over) registry.forget_record(sid);
                                                   st->set_status(sid, status, over);
                                                   st->add_event(sid, "status", status);
                                                 },
                                                 &metrics_registry, !tenants.open() || turn_api});
  const api::ControlServices control_services{config, tenants, registry, *store, *engines->tts, *voices, twilio.get(),
                                              &hub, eleven, [eng] { return eng->status(); }};
  hub.set_services(&control_services);
  api::add_control_routes(router, control_services);
  api::add_generate_route(router, config, turns);
  router.add_ws("/media", [&](const net::HttpRequest& req, net::HttpResponse& reject) -> std::unique_ptr<net::WsHandler> {
    if (!api::twilio_request_authentic(config, req, true)) {
      reject = net::HttpResponse::error(403, "Invalid or missing X-Twilio-Signature");
      return nullptr;
    }
    return std::make_unique<call::MediaStreamHandler>(services, *agents, api::public_url(config, req, true));
  });

  net::ServerLimits limits;
  limits.max_http_body = config.max_http_body_bytes;
  limits.max_ws_frame_hard = std::max<std::size_t>(config.max_ws_message_bytes * 16, 1024 * 1024);
  net::Server server(ioc, std::move(router), limits);
  server_ptr = &server;
  std::uint16_t port = 0;
  try {
    port = server.listen(config.host, config.port);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}:{}: {} (is another process using the port? try --port)", config.host,
                     config.port, e.what());
    return 2;
  }
  // /metrics on its own (private) address, when asked.
  std::unique_ptr<net::Server> metrics_server;
  if (!config.metrics_listen.empty()) {
    const auto colon = config.metrics_listen.rfind(':');
    std::uint16_t metrics_port = 0;
    try {
      if (colon == std::string::npos) throw std::invalid_argument("expected host:port");
      const int p = std::stoi(config.metrics_listen.substr(colon + 1));
      if (p < 0 || p > 65535) throw std::invalid_argument("port out of range");
      net::Router metrics_router;
      api::add_metrics_route(metrics_router, metrics_registry, config.metrics_token, true);
      metrics_server = std::make_unique<net::Server>(ioc, std::move(metrics_router), net::ServerLimits{});
      metrics_port = metrics_server->listen(config.metrics_listen.substr(0, colon), static_cast<std::uint16_t>(p));
    } catch (const std::exception& e) {
      spdlog::critical("cannot serve /metrics on --metrics-listen {}: {} (give host:port, e.g. 127.0.0.1:9464)",
                       config.metrics_listen, e.what());
      return 2;
    }
    write_port_file(options.metrics_port_file, metrics_port);
    spdlog::info("metrics: GET /metrics on http://{}:{}{}", config.metrics_listen.substr(0, colon), metrics_port,
                 config.metrics_token.empty() ? "" : " (bearer token required)");
  }
  write_port_file(options.port_file, port);  // last: tests wait for it before using either port
  if (config.metrics_listen.empty() && !config.metrics_token.empty()) {
    spdlog::info("metrics: GET /metrics needs the bearer token (--metrics-token)");
  } else if (config.metrics_listen.empty() && (!tenants.open() || turn_api)) {
    spdlog::warn("metrics: GET /metrics answers 401 because API keys protect this server; set --metrics-token or "
                 "--metrics-listen to scrape it");
  }
  if (turn_api) spdlog::info("turn API: GET /generate enabled (X-API-KEY must equal API_KEY)");
  if (!config.twilio.auth_token.empty())
    spdlog::info("twilio: webhook signatures {} (auth token set)",
                 config.twilio.validate_signatures ? "required" : "NOT checked (--validate-signatures false)");
  else
    spdlog::warn("twilio: TWILIO_AUTH_TOKEN not set, so webhook signatures are not checked; set it in production");
  spdlog::info("settings: base_url={} agent={} greeting=\"{}\" talk_timeout_s={} silence_ms={} min_speech_ms={} "
               "vad_mode={} tts_voice={} stt_mode={} max_calls={}",
               config.base_url.empty() ? "(from Host header)" : config.base_url, config.agent, config.greeting,
               config.talk_timeout_s, config.endpointing.silence_ms, config.endpointing.min_speech_ms,
               config.vad.webrtc_mode, config.tts.voice, config.stt.mode, config.max_calls);
  spdlog::info("voxbridge listening on http://{}:{} (webhook POST /twilio-voice, media ws /media, GET /health) "
               "threads={} agent={}",
               config.host, port, threads, config.agent);

  // SIGINT/SIGTERM (or the embedding program): stop accepting, close every call's
  // socket, exit within the deadline.
  int exit_code = 0;
  std::atomic<bool> stopping{false};
  std::function<void(const std::string&)> shut_down = [&](const std::string& why) {
    if (stopping.exchange(true)) return;
    spdlog::info("{}: closing {} live call(s), deadline {} ms", why, registry.size(), config.shutdown_deadline_ms);
    // Live calls are completed at Twilio too (Status=completed), as the original service
    // did, so no call is left ringing on with nobody behind it.
    auto pending = std::make_shared<std::atomic<int>>(0);
    if (twilio) {
      for (auto& call : registry.all()) {
        const std::string sid = call->context().call_sid;
        if (sid.empty()) continue;
        ++*pending;
        asio::co_spawn(ioc, [&twilio, sid, pending]() -> asio::awaitable<void> {
          std::optional<std::string> failed;
          try {
            co_await twilio->complete_call(sid);
          } catch (const std::exception& e) {
            failed = e.what();
          }
          if (failed) spdlog::warn("could not complete call {} at Twilio: {}", sid, *failed);
          else spdlog::info("call {} completed at Twilio", sid);
          --*pending;
        }, asio::detached);
      }
    }
    server.shutdown();
    if (metrics_server) metrics_server->shutdown();
    turns.shutdown();
    for (auto& call : registry.all()) asio::post(call->executor(), [call] { call->end("server shutdown"); });
    asio::co_spawn(
        ioc,
        [&, pending]() -> asio::awaitable<void> {
          const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.shutdown_deadline_ms);
          asio::steady_timer wait(ioc);
          while (pending->load() > 0 && std::chrono::steady_clock::now() < until) {
            wait.expires_after(std::chrono::milliseconds(10));
            co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          // Waiting /generate requests were told of the shutdown: let their answers go out
          // (the handlers return, then their connections write the answers).
          const bool had_waiters = turns.busy() > 0;
          while (turns.busy() > 0 && std::chrono::steady_clock::now() < until) {
            wait.expires_after(std::chrono::milliseconds(10));
            co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          if (had_waiters) {
            wait.expires_after(std::chrono::milliseconds(100));
            co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          const bool clean = co_await server.wait_websockets_closed(std::chrono::milliseconds(config.shutdown_deadline_ms));
          if (!clean) spdlog::warn("shutdown deadline passed with {} socket(s) open; exiting anyway", server.open_websockets());
          else spdlog::info("all calls closed; exiting");
          ioc.stop();
        },
        asio::detached);
  };
  asio::signal_set signals(ioc);
  if (options.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (!ec) shut_down("signal " + std::to_string(sig) + " received");
    });
  }
  if (options.on_listening)
    options.on_listening(port, [&ioc, &shut_down] { asio::post(ioc, [&shut_down] { shut_down("stop requested"); }); });

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  // Everything the calls reported while closing is committed before we exit.
  store->flush();
  spdlog::default_logger()->flush();
  return exit_code;
}

}  // namespace vox::app
