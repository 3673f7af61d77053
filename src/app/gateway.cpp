#include "app/gateway.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>

#include "api/client_socket.hpp"
#include "api/control.hpp"
#include "api/control_codec.hpp"
#include "api/generate.hpp"
#include "api/routes.hpp"
#include "app/call_journal.hpp"
#include "app/engines.hpp"
#include "app/llm_setup.hpp"
#include "app/twilio_control.hpp"
#include "app/voice_catalog.hpp"
#include "call/call_metrics.hpp"
#include "call/registry.hpp"
#include "app/browser_phone.hpp"
#include "call/starter.hpp"
#include "call/timer.hpp"
#include "call/turns.hpp"
#include "cluster/cluster.hpp"
#include "cluster/forward.hpp"
#include "core/countdown.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/spawn.hpp"
#include "net/load_monitor.hpp"
#include "net/server.hpp"
#include "store/pg_store.hpp"
#include "store/sqlite_store.hpp"
#include "twilio/rest_client.hpp"
#include "twilio_media/media_socket.hpp"

namespace vox::app {
namespace asio = boost::asio;

namespace {

// This server's default name in the call store: the host name and the configured port
// (stable across restarts, distinct for two servers on one host).
std::string default_instance_id(const ServerConfig& config) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "localhost");
  return std::string(host) + ":" + std::to_string(config.port);
}

}  // namespace

struct Gateway::Parts {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::unique_ptr<Engines> engines;
  std::unique_ptr<net::HttpClient> agent_http;  // the webhook agent's requests
  std::unique_ptr<LlmSetup> llm;                // the llm agent's client (and built-in model emulator)
  std::unique_ptr<agent::AgentFactory> agents;
  api::Tenants tenants;
  std::vector<std::string> orphans;  // calls this instance left live when it last stopped
  std::unique_ptr<store::CallStore> store;
  // The store's blocking read of one call (start-up lookups on the worker pool).
  std::function<std::optional<store::StoredCall>(const std::string&)> read_call;
  store::PgCallStore* pg = nullptr;  // when the store is PostgreSQL (its connection shows on /health/ready)
  std::unique_ptr<CallJournal> journal;
  std::unique_ptr<net::HttpClient> twilio_http;
  std::unique_ptr<twilio::RestClient> twilio;
  std::unique_ptr<TwilioControl> control;
  call::CallRegistry registry;
  metrics::Registry metrics;
  std::unique_ptr<net::LoadMonitor> load;  // event-loop lag and overload shedding
  std::unique_ptr<call::CallMetrics> call_metrics;
  std::unique_ptr<call::AsioTimers> timers;
  api::ClientHub hub;
  call::TurnHub turns;
  std::unique_ptr<api::VoiceCatalog> voices;
  std::unique_ptr<call::CallStarter> starter;
  std::unique_ptr<BrowserPhone> phone;  // /phone/ws: browser calls
  twilio_media::MediaSocketSettings media;
  std::unique_ptr<net::HttpClient> cluster_http;  // forwarded actions, to the instance that holds the call
  std::unique_ptr<cluster::Cluster> cluster;      // null: this instance alone
  std::unique_ptr<cluster::Forwarder> forwarder;
  std::atomic<bool> ready{false};                 // listening (and not draining)
  std::atomic<bool> draining{false};
  std::unique_ptr<api::ControlServices> control_services;
  std::unique_ptr<net::Server> server;
  std::unique_ptr<net::Server> metrics_server;
};

namespace {

// Text sent through any instance before the call's stream started here: spoken on the
// call's thread once the cluster has it.
std::function<void(std::vector<std::string>)> say_waiting_texts(const std::shared_ptr<call::CallSession>& s) {
  return [weak = std::weak_ptr<call::CallSession>(s), ex = s->executor()](std::vector<std::string> texts) {
    asio::post(ex, [weak, texts = std::move(texts)]() mutable {
      auto s = weak.lock();
      if (!s) return;
      for (auto& t : texts)
        if (!s->ended()) s->say(std::move(t));
    });
  };
}

// Redis as the cluster's directory, and the client that forwards actions to a call's owner.
void build_cluster(const ServerConfig& config, asio::io_context& ioc, Gateway::Parts& p, const std::string& instance_id) {
  const auto& advertise = config.cluster.advertise_url;
  if (!advertise.empty() && advertise.rfind("http://", 0) != 0 && advertise.rfind("https://", 0) != 0)
    throw StartError("--advertise-url " + advertise + ": give the URL the other instances reach this one at, e.g. "
                     "http://10.0.0.11:8001");
  cluster::ClusterSettings cs;
  cs.redis.url = config.cluster.redis_url;
  cs.redis.ca_file = config.cluster.redis_ca_file;
  cs.redis.command_timeout = std::chrono::milliseconds(config.cluster.redis_timeout_ms);
  cs.instance_id = instance_id;
  cs.heartbeat = std::chrono::milliseconds(config.cluster.heartbeat_ms);
  cs.ttl = std::chrono::milliseconds(config.cluster.ttl_ms);
  try {
    p.cluster = std::make_unique<cluster::Cluster>(ioc.get_executor(), cs);
    if (const auto& password = p.cluster->redis_endpoint().password; !password.empty()) redact_in_logs(password);
  } catch (const std::invalid_argument& e) {
    throw StartError(std::string("--redis-url / cluster settings: ") + e.what());
  }
  net::HttpClientOptions o;
  o.retry.max_attempts = 1;  // an action is not safe to repeat
  o.connect_timeout = std::chrono::milliseconds(2000);
  p.cluster_http = std::make_unique<net::HttpClient>(ioc.get_executor(), o);
  p.forwarder = std::make_unique<cluster::Forwarder>(*p.cluster, *p.cluster_http);
  auto* clu = p.cluster.get();
  p.registry.set_on_removed([clu](const std::string& sid) { clu->call_ended(sid); });
  // The calls of a lost instance end in the shared store, as seen from every instance.
  auto* store = p.store.get();
  auto* turns = &p.turns;
  p.cluster->on_calls_lost([store, turns](std::vector<std::string> sids, std::string instance) {
    for (const auto& sid : sids) {
      store->add_event(sid, "stream_ended", "instance_lost (" + instance + ")");
      store->set_status(sid, "completed", true);
      turns->call_status(sid, "completed");
    }
  });
}

}  // namespace

Gateway::Gateway(const ServerConfig& config, Runtime& runtime)
    : config_(config),
      runtime_(runtime),
      instance_id_(config.instance_id.empty() ? default_instance_id(config) : config.instance_id),
      parts_(std::make_unique<Parts>()) {
  auto& p = *parts_;
  auto& ioc = runtime.io();
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
                 "for ElevenLabs)", config.espeak.voice, config.sphinx.mode);
  if (config.agent.default_agent == "webhook" && config.agent.webhook.url.empty())
    throw StartError("--agent webhook needs --agent-webhook-url (AGENT_WEBHOOK_URL)");
  try {
    p.engines = build_engines(config, ioc, runtime.threads(), true, &runtime.blocking());
    if (!config.agent.webhook.url.empty()) {
      // One pool of keep-alive connections, no retries: a turn is not safe to repeat.
      net::HttpClientOptions o;
      o.retry.max_attempts = 1;
      o.read_timeout = std::chrono::milliseconds(config.agent.webhook.timeout_ms);
      o.connect_timeout = std::min(o.connect_timeout, o.read_timeout);
      p.agent_http = std::make_unique<net::HttpClient>(ioc.get_executor(), o);
    }
    agent::AgentSettings agents = config.agent;
    p.llm = std::make_unique<LlmSetup>(agents.llm, ioc, p.metrics);
    p.agents = std::make_unique<agent::AgentFactory>(agents, p.agent_http.get(), &p.llm->http(), p.llm->observer());
    // The model server is checked (and shown on /health) when it is the default agent
    // or configured; otherwise the llm agent is there for calls that ask for it.
    if (config.agent.default_agent == "llm" || !p.llm->emulated()) p.llm->check(*p.engines, agents.llm, ioc, true);
    p.tenants = api::Tenants::load(config.api.api_keys, config.api.api_keys_file);
    store::SqliteSettings ss;
    ss.path = config.store_path;
    ss.instance_id = instance_id_;
    ss.delay = std::chrono::milliseconds(config.store_delay_ms);
    const auto& where = config.store_path;
    if (where.rfind("postgres://", 0) == 0 || where.rfind("postgresql://", 0) == 0) {
      store::PgSettings ps;
      ps.url = where;
      ps.instance_id = instance_id_;
      auto pg = std::make_unique<store::PgCallStore>(ps, &runtime.blocking(), &p.orphans);
      p.pg = pg.get();
      p.read_call = [pg = p.pg](const std::string& sid) { return pg->read_call(sid); };
      p.store = std::move(pg);
    } else {
      auto sqlite = std::make_unique<store::SqliteCallStore>(ss, &runtime.blocking(), &p.orphans);
      p.read_call = [db = sqlite.get()](const std::string& sid) { return db->read_call(sid); };
      p.store = std::move(sqlite);
    }
  } catch (const std::exception& e) {
    throw StartError(e.what());
  }
  p.tenants.for_each_key([](const std::string& key) { redact_in_logs(key); });
  spdlog::info("call store: {} instance={}", p.store->describe(), instance_id_);
  if (!p.orphans.empty())
    spdlog::warn("{} call(s) were still in progress when this instance ({}) last stopped; closed with reason "
                 "server_restart: {}", p.orphans.size(), instance_id_, fmt::join(p.orphans, " "));
  if (p.tenants.open())
    spdlog::warn("control API: NO API KEYS CONFIGURED, so /api/v1/elevenlabs-twilio/* and the client WebSocket are "
                 "OPEN to anyone who can reach this port. Fine on your own machine; in production set VOX_API_KEYS "
                 "(tenant:key,...) or --api-keys-file");
  else
    spdlog::info("control API: {} company key(s) loaded; requests need X-API-KEY or Authorization: Bearer",
                 p.tenants.size());
  p.journal = std::make_unique<CallJournal>(*p.store, instance_id_);
  check_elevenlabs(*p.engines, config.elevenlabs, ioc);
  if (p.engines->elevenlabs_tts) p.engines->elevenlabs_tts->warm_up();
  if (p.engines->cache) {
    auto phrases = config.tts_cache.prewarm;
    if (!config.agent.greeting.empty()) phrases.push_back(config.agent.greeting);
    p.engines->cache->prewarm(phrases, "");
  }

  // Twilio's REST API, when an account is configured: transfers, keys, hang-ups.
  if (config.twilio.rest_ready()) {
    p.twilio_http = std::make_unique<net::HttpClient>(ioc.get_executor());
    p.twilio = std::make_unique<twilio::RestClient>(*p.twilio_http, config.twilio.rest());
    p.control = std::make_unique<TwilioControl>(ioc, *p.twilio, config.twilio.phone_number);
    // A killed server's calls may still be connected at Twilio, with nobody behind them.
    const std::string why = "left by the previous run";
    for (const auto& sid : p.orphans) vox::spawn(ioc, p.control->complete(sid, why), "completing a call at Twilio");
  }

  p.registry.set_limit(static_cast<std::size_t>(config.call.max_calls));
  if (!config.cluster.redis_url.empty()) build_cluster(config, ioc, p, instance_id_);
  net::LoadSettings load_settings;
  load_settings.shed_lag = std::chrono::milliseconds(config.shed_lag_ms);
  load_settings.hold = std::chrono::milliseconds(config.shed_hold_ms);
  p.load = std::make_unique<net::LoadMonitor>(runtime.contexts(), load_settings, &p.metrics);
  p.call_metrics = std::make_unique<call::CallMetrics>(p.metrics);
  p.timers = std::make_unique<call::AsioTimers>(SteadyClock::instance());
  // The turn API follows calls only when it is enabled (API_KEY).
  const bool turn_api = !config.api.generate_api_key.empty();
  call::CallServices services{config.call, *p.engines->tts, *p.engines->stt, p.registry, SteadyClock::instance(), *p.timers};
  services.control = p.control.get();
  services.journal = p.journal.get();
  services.metrics = p.call_metrics.get();
  auto* blocking = &runtime.blocking();
  services.run_blocking = [blocking](std::function<void()> fn) { blocking->post(std::move(fn)); };
  services.admit = [&p] { return p.load->admit(net::ShedKind::media, p.registry.at_limit()); };
  services.on_session_started = [&p, turn_api](const std::shared_ptr<call::CallSession>& s) {
    if (p.cluster) {
      p.cluster->call_started(s->context().call_sid, s->context().tenant, say_waiting_texts(s));
    }
    p.hub.session_started(s);
    if (turn_api) p.turns.session_started(s);
  };
  // A call the registry does not hold (dropped after it ended, or from before a restart)
  // keeps its stored owner, agent and voice: looked up off the network threads.
  auto* st = &p.read_call;
  auto lookup = [st, blocking](const std::string& sid, std::function<void(std::optional<call::CallRecord>)> done) {
    blocking->post([st, sid, done = std::move(done)] {
      std::optional<call::CallRecord> found;
      try {
        if (const auto c = (*st)(sid); c && !c->tenant.empty()) {
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
          found = std::move(r);
        }
      } catch (const std::exception& e) {
        spdlog::warn("call store lookup of {} failed: {}", sid, e.what());
      }
      done(std::move(found));
    });
  };
  auto* agents = p.agents.get();
  p.starter = std::make_unique<call::CallStarter>(
      services, [agents](call::CallContext& c) { return agents->create_for_stream(c); }, lookup);
  p.phone = make_browser_phone(
      services, [agents](call::CallContext& c) { return agents->create_for_stream(c); }, p.tenants,
      std::chrono::seconds(std::min(config.media_timeout_s, config.ws_idle_timeout_s)));

  if (p.engines->http && eleven)
    p.voices = std::make_unique<ElevenLabsVoices>(*p.engines->http, config.elevenlabs);
  else
    p.voices = std::make_unique<EmbeddedVoices>(*p.engines->tts);

  // /metrics: the calls' latencies and counters, and gauges read at scrape time.
  p.metrics.callback("voxbridge_active_calls", "Calls with a live media stream",
                     [&p] { return static_cast<double>(p.registry.size()); });
  p.metrics.callback("voxbridge_websockets_open", "Open WebSocket connections (media streams and clients)",
                     [&p] { return p.server ? static_cast<double>(p.server->open_websockets()) : 0.0; });
  p.metrics.callback("voxbridge_client_sockets_waiting", "Client WebSockets waiting for a call",
                     [&p] { return static_cast<double>(p.hub.waiting()); });
  p.metrics.callback("voxbridge_turn_api_calls", "Calls followed by the turn API (/generate)",
                     [&p] { return static_cast<double>(p.turns.size()); });
  p.metrics.callback("voxbridge_uptime_seconds", "Seconds since the server started", [&p] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - p.started).count();
  });
  if (auto* clu = p.cluster.get()) {
    auto* fwd = p.forwarder.get();
    p.metrics.callback("voxbridge_redis_up", "1 while both Redis connections of the cluster are up",
                       [clu] { return clu->redis_up() ? 1.0 : 0.0; });
    p.metrics.callback("voxbridge_cluster_forwarded_total", "Control actions and turns forwarded to another instance",
                       [fwd] { return static_cast<double>(fwd->forwarded()); }, "counter");
    p.metrics.callback("voxbridge_cluster_calls_lost_total", "Calls of lost instances this instance ended",
                       [clu] { return static_cast<double>(clu->calls_lost()); }, "counter");
  }
  if (auto* cache = p.engines->cache.get()) {
    p.metrics.callback("voxbridge_tts_cache_hits_total", "Replies served from the TTS cache (memory or disk)", [cache] {
      const auto s = cache->stats();
      return static_cast<double>(s.hits + s.disk_hits);
    }, "counter");
    p.metrics.callback("voxbridge_tts_cache_misses_total", "Replies synthesized because they were not cached",
                       [cache] { return static_cast<double>(cache->stats().misses); }, "counter");
    p.metrics.callback("voxbridge_tts_cache_entries", "Replies held in the TTS cache",
                       [cache] { return static_cast<double>(cache->stats().entries); });
    p.metrics.callback("voxbridge_tts_cache_bytes", "Audio bytes held in the TTS cache's memory",
                       [cache] { return static_cast<double>(cache->stats().memory_bytes); });
  }

  // The routes.
  net::Router router;
  auto* eng = p.engines.get();
  auto* clu = p.cluster.get();
  auto statuses = [eng, clu] {
    auto s = eng->status();
    if (clu) s["redis"] = clu->redis_up() ? std::string("ok") : "unreachable: " + clu->redis_error();
    return s;
  };
  api::RouteContext route_context{config.api, config.twilio, p.registry, p.engines->tts->name(),
                                                 p.engines->stt->name(), p.started, statuses,
                                                 [&p](const std::string& sid, const std::string& status,
                                                      const std::string&) {
                                                   p.turns.call_status(sid, status);
                                                   p.registry.update_record(sid, [&](call::CallRecord& r) { r.status = status; });
                                                   const bool over = twilio::is_terminal_status(status);
                                                   // A placed call that ended (busy, no answer...) frees
                                                   // its place in the company's count at once.
                                                   if (over && p.cluster)
                                                     if (auto r = p.registry.record(sid)) p.cluster->release("calls", r->tenant, sid);
                                                   if (over) p.registry.forget_record(sid);
                                                   p.store->set_status(sid, status, over);
                                                   p.store->add_event(sid, "status", status);
                                                 },
                                                 &p.metrics, !p.tenants.open() || turn_api, p.load.get()};
  route_context.draining = [&p] { return p.draining.load(); };
  route_context.not_ready = [&p, clu] {
    if (p.draining) return std::string("draining: this instance is stopping");
    if (!p.ready) return std::string("starting");
    if (clu && !clu->redis_up()) return "Redis is unreachable: " + clu->redis_error();
    if (p.pg && !p.pg->writer_connected()) return std::string("the PostgreSQL call store is unreachable");
    return std::string();
  };
  api::add_core_routes(router, route_context);
  p.control_services = std::make_unique<api::ControlServices>(api::ControlServices{
      config.api, config.twilio.phone_number, p.tenants, p.registry, *p.store, *p.engines->tts, *p.voices,
      p.twilio.get(), &p.hub, eleven, statuses});
  p.control_services->default_voice_id = eleven ? config.elevenlabs.voice_id : config.espeak.voice;
  p.control_services->tts_fallbacks = &p.call_metrics->tts_fallbacks;
  p.control_services->load = p.load.get();
  p.control_services->forwarder = p.forwarder.get();
  p.control_services->max_calls_per_company = config.cluster.max_calls_per_company;
  p.control_services->recording_dir = config.call.recording_dir;
  p.control_services->pool = &runtime.blocking();
  if (p.phone) p.phone->settings.admit = company_admission(*p.control_services);
  p.hub.set_services(p.control_services.get());
  if (p.cluster) {
    auto* svc = p.control_services.get();
    p.hub.on_agent_call_unclaimed = [svc](const std::shared_ptr<call::CallSession>& s) { api::offer_to_other_instances(*svc, *s); };
  }
  api::add_control_routes(router, *p.control_services);
  api::add_generate_route(router, config.api, p.turns, p.load.get(), p.forwarder.get());
  p.media.max_message_bytes = config.max_ws_message_bytes;
  p.media.relaxed_call_sids = config.api.relaxed_call_sids;
  p.media.silence_limit = std::chrono::seconds(std::min(config.media_timeout_s, config.ws_idle_timeout_s));
  p.media.metrics = p.call_metrics.get();
  add_phone_socket(router, *p.phone);
  api::add_web_routes(router, *p.control_services);
  router.add_ws("/media", [&p, &config](const net::HttpRequest& req, net::HttpResponse& reject) -> std::unique_ptr<net::WsHandler> {
    if (!api::twilio_request_authentic(config.twilio, config.api.base_url, req, true)) {
      reject = net::HttpResponse::error(403, "Invalid or missing X-Twilio-Signature");
      return nullptr;
    }
    return std::make_unique<twilio_media::MediaSocketHandler>(p.media, *p.starter,
                                                             api::public_url(config.api.base_url, req, true));
  });

  net::ServerLimits limits;
  limits.max_http_body = config.max_http_body_bytes;
  limits.max_ws_frame_hard = std::max<std::size_t>(config.max_ws_message_bytes * 16, 1024 * 1024);
  limits.http_idle = std::chrono::seconds(config.http_idle_timeout_s);
  limits.ws_idle = std::chrono::seconds(config.ws_idle_timeout_s);
  limits.single_thread = true;  // every io_context of the Runtime is run by one thread
  p.server = std::make_unique<net::Server>(ioc, std::move(router), limits);
  p.server->spread_connections(runtime_.contexts());
  if (turn_api) spdlog::info("turn API: GET /generate enabled (X-API-KEY must equal API_KEY)");
}

Gateway::~Gateway() = default;

std::uint16_t Gateway::listen() {
  auto& p = *parts_;
  std::uint16_t port = 0;
  try {
    port = p.server->listen(config_.host, config_.port);
  } catch (const std::exception& e) {
    throw StartError("cannot listen on " + config_.host + ":" + std::to_string(config_.port) + ": " + e.what() +
                     " (is another process using the port? try --port)");
  }
  p.load->start();
  if (p.cluster) {
    auto url = config_.cluster.advertise_url;
    if (url.empty()) {
      char host[256] = {};
      if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "localhost");
      const bool any = config_.host == "0.0.0.0" || config_.host == "::";
      url = "http://" + (any ? std::string(host) : config_.host) + ":" + std::to_string(port);
    }
    p.cluster->start(url);
    spdlog::info("cluster: instance {} at {} (Redis {}, heartbeat {} ms, ttl {} ms)", instance_id_, url,
                 p.cluster->redis_endpoint().display(),
                 config_.cluster.heartbeat_ms, config_.cluster.ttl_ms);
  }
  p.ready = true;
  // /metrics on its own (private) address, when asked.
  const auto& listen_on = config_.api.metrics_listen;
  if (!listen_on.empty()) {
    const auto colon = listen_on.rfind(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("expected host:port");
      const int mp = std::stoi(listen_on.substr(colon + 1));
      if (mp < 0 || mp > 65535) throw std::invalid_argument("port out of range");
      net::Router metrics_router;
      api::add_metrics_route(metrics_router, p.metrics, config_.api.metrics_token, true);
      p.metrics_server = std::make_unique<net::Server>(runtime_.io(), std::move(metrics_router), net::ServerLimits{});
      metrics_port_ = p.metrics_server->listen(listen_on.substr(0, colon), static_cast<std::uint16_t>(mp));
    } catch (const std::exception& e) {
      throw StartError("cannot serve /metrics on --metrics-listen " + listen_on + ": " + e.what() +
                       " (give host:port, e.g. 127.0.0.1:9464)");
    }
    spdlog::info("metrics: GET /metrics on http://{}:{}{}", listen_on.substr(0, colon), metrics_port_,
                 config_.api.metrics_token.empty() ? "" : " (bearer token required)");
  } else if (!config_.api.metrics_token.empty()) {
    spdlog::info("metrics: GET /metrics needs the bearer token (--metrics-token)");
  } else if (!p.tenants.open() || !config_.api.generate_api_key.empty()) {
    spdlog::warn("metrics: GET /metrics answers 401 because API keys protect this server; set --metrics-token or "
                 "--metrics-listen to scrape it");
  }
  if (!config_.twilio.auth_token.empty())
    spdlog::info("twilio: webhook signatures {} (auth token set)",
                 config_.twilio.validate_signatures ? "required" : "NOT checked (--validate-signatures false)");
  else
    spdlog::warn("twilio: TWILIO_AUTH_TOKEN not set, so webhook signatures are not checked; set it in production");
  spdlog::info("settings: base_url={} agent={} greeting=\"{}\" talk_timeout_s={} silence_ms={} min_speech_ms={} "
               "vad_mode={} tts_voice={} stt_mode={} max_calls={} shed_lag_ms={}",
               config_.api.base_url.empty() ? "(from Host header)" : config_.api.base_url, config_.agent.default_agent,
               config_.agent.greeting, config_.call.talk_timeout_s, config_.call.inbound.endpointing.silence_ms,
               config_.call.inbound.endpointing.min_speech_ms, config_.call.inbound.vad.webrtc_mode,
               config_.espeak.voice, config_.sphinx.mode, config_.call.max_calls, config_.shed_lag_ms);
  spdlog::info("voxbridge listening on http://{}:{} (webhook POST /twilio-voice, media ws /media, GET /health) "
               "threads={} agent={}",
               config_.host, port, runtime_.threads(), config_.agent.default_agent);
  return port;
}

namespace {

asio::awaitable<void> complete_and_count(TwilioControl& control, std::string sid, std::shared_ptr<Countdown> left) {
  const std::string why = "server shutdown";
  co_await control.complete(std::move(sid), why);
  left->done();
}

asio::awaitable<void> shutdown_task(const ServerConfig& config, Runtime& runtime, Gateway::Parts& p, std::string why,
                                    std::function<void()> done) {
  // Draining: no new calls (webhooks 503, not ready), live calls may finish on their own.
  p.draining = true;
  if (config.drain_timeout_s > 0 && p.registry.size() > 0) {
    spdlog::info("{}: draining {} live call(s) for up to {} s (new calls refused)", why, p.registry.size(),
                 config.drain_timeout_s);
    const auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(config.drain_timeout_s);
    asio::steady_timer tick(co_await asio::this_coro::executor);
    while (p.registry.size() > 0 && std::chrono::steady_clock::now() < drain_until) {
      tick.expires_after(std::chrono::milliseconds(100));
      co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    spdlog::info("drain over: {} call(s) still live", p.registry.size());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.shutdown_deadline_ms);
  const auto live = p.registry.all();
  spdlog::info("{}: closing {} live call(s), deadline {} ms", why, live.size(), config.shutdown_deadline_ms);
  // Stop taking work: no new connections, sockets asked to close, waiting turns answered.
  p.server->shutdown();
  if (p.metrics_server) p.metrics_server->shutdown();
  p.load->stop();
  if (p.llm) p.llm->shutdown();
  p.turns.shutdown();
  // Live calls are completed at Twilio too (Status=completed), as the original service
  // did, so no call is left ringing on with nobody behind it; and ended here.
  auto twilio_left = std::make_shared<Countdown>(co_await asio::this_coro::executor);
  for (const auto& call : live) {
    const std::string sid = call->context().call_sid;
    if (p.control && !sid.empty()) {
      twilio_left->add();
      vox::spawn(runtime.io(), complete_and_count(*p.control, sid, twilio_left), "completing a call at Twilio");
    }
    asio::post(call->executor(), [call] { call->end("server shutdown"); });
  }
  // (Results first, then tested: GCC 12 miscompiles co_await inside conditions.)
  const bool completed = co_await twilio_left->wait_zero(deadline);
  if (!completed)
    spdlog::warn("shutdown deadline passed with {} call(s) not yet completed at Twilio", twilio_left->pending());
  const bool idle = co_await p.server->wait_idle(deadline);
  if (idle) spdlog::info("all calls closed; exiting");
  else {
    const auto open = p.server->describe_open();
    spdlog::warn("shutdown deadline passed with {} connection(s) open; closing them", open.size());
    for (const auto& c : open) spdlog::warn("  still open: {}", c);
  }
  // Whatever is left is closed now: connections and the providers' sockets.
  p.server->abort_all();
  if (p.metrics_server) p.metrics_server->abort_all();
  if (p.llm) p.llm->abort();
  p.engines->close();
  co_await p.store->flush();
  if (p.cluster) co_await p.cluster->stop();
  done();
}

}  // namespace

void Gateway::shut_down(std::string why, std::function<void()> done) {
  if (stopping_.exchange(true)) return;
  auto strand = asio::make_strand(runtime_.io());
  vox::spawn(strand, shutdown_task(config_, runtime_, *parts_, std::move(why), std::move(done)), "shutdown");
}

}  // namespace vox::app
