#include "api/control_common.hpp"
#include "core/json_text.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "api/routes.hpp"
#include "cluster/forward.hpp"
#include "net/load_monitor.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

Principal authenticate(const Tenants& tenants, const net::HttpRequest& req) {
  if (tenants.open()) return Principal{std::string(Tenants::kLocal), true};
  const auto key = request_key(req);
  if (key.empty()) throw ApiError(401, "Missing API key: send X-API-KEY or Authorization: Bearer");
  auto tenant = tenants.tenant_for(key);
  if (!tenant) throw ApiError(401, "Invalid API key");
  return Principal{std::move(*tenant), false};
}

std::optional<net::HttpResponse> refuse_when_overloaded(const ControlServices& svc, bool new_call, std::string_view what) {
  if (!svc.load) return std::nullopt;
  const bool full = new_call && svc.registry.at_limit();
  if (svc.load->admit(net::ShedKind::control, full)) return std::nullopt;
  if (full) return overloaded_response(*svc.load, what, "the call limit (--max-calls) is reached");
  return overloaded_response(*svc.load, what);
}

net::HttpResponse json_response(int status, const json::value& v) { return net::HttpResponse::json(status, vox::json_text(v)); }

net::HttpHandler route(const ControlServices& svc, Handler h, bool needs_auth) {
  return [&svc, h = std::move(h), needs_auth](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    std::optional<net::HttpResponse> failed;
    try {
      Principal who;
      who.tenant = Tenants::kLocal;
      who.open = true;
      if (needs_auth) who = authenticate(svc.tenants, req);
      co_return co_await h(req, who);
    } catch (const ApiError& e) {
      if (e.status == 401) spdlog::warn("control API {} {} refused: {} remote={}", req.method, req.path, e.what(), req.remote);
      failed = net::HttpResponse::error(e.status, e.what());
    } catch (const std::exception& e) {
      // What went wrong inside is for the log, not for the client.
      spdlog::error("control API {} {} failed: {}", req.method, req.path, e.what());
      failed = net::HttpResponse::error(500, "Internal error: the server log has the details");
    }
    co_return std::move(*failed);
  };
}

asio::awaitable<Found> find_call(const ControlServices& svc, std::string sid, Principal who) {
  Found f;
  if (sid.empty() || sid.size() > 64) throw ApiError(404, "Call not found");
  f.live = svc.registry.find(sid);
  f.record = svc.registry.record(sid);
  if (f.live) f.tenant = f.live->context().tenant;
  else if (f.record) f.tenant = f.record->tenant;
  co_await svc.store.flush();
  f.stored = co_await svc.store.call(sid);
  if (f.stored && (!f.stored->tenant.empty() || (!f.live && !f.record))) f.tenant = f.stored->tenant;
  if ((!f.live && !f.record && !f.stored) || !who.may_access(f.tenant)) throw ApiError(404, "Call not found");
  co_return f;
}

asio::awaitable<std::optional<net::HttpResponse>> forward_to_owner(const ControlServices& svc,
                                                                  const net::HttpRequest& req) {
  if (!svc.forwarder) co_return std::nullopt;
  std::string sid(req.param("call_sid"));
  // A call live here is answered here, without asking Redis.
  if (svc.registry.find(sid)) co_return std::nullopt;
  const std::chrono::milliseconds timeout = std::chrono::seconds(10);
  auto r = co_await svc.forwarder->forward(req, std::move(sid), timeout);
  co_return r;
}

PlacingSlot::PlacingSlot(ControlServices::Placing* placing, std::string tenant)
    : placing_(placing), tenant_(std::move(tenant)) {}

PlacingSlot& PlacingSlot::operator=(PlacingSlot&& o) noexcept {
  if (this != &o) {
    PlacingSlot gone(std::move(*this));
    placing_ = std::exchange(o.placing_, nullptr);
    tenant_ = std::move(o.tenant_);
  }
  return *this;
}

PlacingSlot::~PlacingSlot() {
  if (!placing_) return;
  std::lock_guard lock(placing_->mu);
  auto it = placing_->by_tenant.find(tenant_);
  if (it != placing_->by_tenant.end() && --it->second <= 0) placing_->by_tenant.erase(it);
}

PlacingSlot admit_company_call_here(const ControlServices& svc, const std::string& tenant, const std::string& member) {
  if (svc.max_calls_per_company <= 0) return PlacingSlot();
  // A call registered again is not a new one.
  if (auto known = svc.registry.record(member); known && known->tenant == tenant) return PlacingSlot();
  const auto limit = static_cast<std::size_t>(svc.max_calls_per_company);
  auto* placing = svc.placing.get();
  std::lock_guard lock(placing->mu);
  auto it = placing->by_tenant.find(tenant);
  const std::size_t in_flight = it == placing->by_tenant.end() ? 0 : static_cast<std::size_t>(it->second);
  if (svc.registry.calls_of(tenant, kCallHold) + in_flight >= limit)
    throw ApiError(429, "This company already has " + std::to_string(limit) +
                            " concurrent calls (--max-calls-per-company); try again when one ends");
  ++placing->by_tenant[tenant];
  return PlacingSlot(placing, tenant);
}

asio::awaitable<PlacingSlot> admit_company_call(const ControlServices& svc, const Principal& who, std::string member) {
  if (svc.max_calls_per_company <= 0) co_return PlacingSlot();
  if (!svc.forwarder) co_return admit_company_call_here(svc, who.tenant, member);
  bool admitted = false;
  std::string failed;
  const std::chrono::milliseconds hold = kCallHold;
  try {
    const std::string kind = "calls";  // (named: no prvalue strings into coroutine calls)
    admitted = co_await svc.forwarder->cluster().admit(kind, who.tenant, std::move(member), svc.max_calls_per_company,
                                                       hold);
  } catch (const std::exception& e) {
    failed = e.what();
  }
  if (!failed.empty()) {
    spdlog::warn("the company call limit of {} cannot be checked: {}", who.tenant, failed);
    throw ApiError(503, "Redis is unreachable, so the company's call limit cannot be checked; try again shortly");
  }
  if (!admitted)
    throw ApiError(429, "This company already has " + std::to_string(svc.max_calls_per_company) +
                            " concurrent calls across the cluster (--max-calls-per-company); try again when one ends");
  co_return PlacingSlot();
}

void store_registered(const ControlServices& svc, const call::CallRecord& rec) {
  store::StoredCall sc;
  sc.call_sid = rec.call_sid;
  sc.tenant = rec.tenant;
  sc.agent_id = rec.agent_id;
  sc.voice_id = rec.voice_id;
  sc.voice_settings_json = settings_text(rec.voice_settings);
  sc.from = rec.from;
  sc.to = rec.to;
  sc.direction = rec.direction;
  sc.status = rec.status;
  sc.created_at = rec.created_at;
  sc.metadata_json = rec.metadata_json;
  svc.store.upsert_call(sc);
  svc.store.add_event(rec.call_sid, "status", rec.status);
}

void record_voice_change(const ControlServices& svc, const std::string& call_sid, const std::string& voice_id,
                         const speech::VoiceSettings& settings) {
  svc.registry.update_record(call_sid, [&](call::CallRecord& r) {
    r.voice_id = voice_id;
    r.voice_settings = settings;
  });
  svc.store.set_voice(call_sid, voice_id, settings_text(settings));
  svc.store.add_event(call_sid, "voice_updated", voice_id);
}

asio::awaitable<bool> voice_known(const ControlServices& svc, std::string voice_id) {
  bool ok = false;
  bool failed = false;
  try {
    ok = co_await svc.voices.exists(voice_id);
  } catch (const std::exception& e) {
    spdlog::warn("voice check of {} failed: {}", voice_id, e.what());
    failed = true;
  }
  if (failed) throw ApiError(502, "Could not check the voice with the speech provider; try again shortly");
  co_return ok;
}

namespace {
// ElevenLabs voice ids are 20 letters and digits (e.g. IKne3meq5aSn9XLyUdCD).
bool looks_like_elevenlabs_voice(const std::string& v) {
  return v.size() == 20 && std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
}
}  // namespace

asio::awaitable<std::string> require_voice(const ControlServices& svc, std::string voice_id, std::string* note) {
  if (voice_id.empty()) co_return voice_id;
  const bool known = co_await voice_known(svc, voice_id);
  if (known) co_return voice_id;
  if (!svc.elevenlabs_configured && looks_like_elevenlabs_voice(voice_id)) {
    const std::string why = "ElevenLabs is not configured, so the embedded voice " + svc.default_voice_id +
                            " speaks instead of " + voice_id + " (set ELEVENLABS_API_KEY to use ElevenLabs voices)";
    spdlog::warn("voice {}: {}", voice_id, why);
    if (note) *note = why;
    co_return std::string();
  }
  throw ApiError(404, "Invalid voice ID: " + voice_id);
}

std::string base_of(const ApiSettings& settings, const net::HttpRequest& req) {
  const auto url = public_url(settings.base_url, req, false);
  return url.substr(0, url.size() - req.target.size());
}

std::string query_value(const net::HttpRequest& req, std::string_view key) {
  return std::string(net::form_value(net::parse_form(req.query), key));
}

int int_query(const net::HttpRequest& req, std::string_view key, int fallback, int lo, int hi) {
  const auto v = query_value(req, key);
  if (v.empty()) return fallback;
  int n = 0;
  const auto* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, n);
  if (ec != std::errc() || p != end || n < lo || n > hi)
    throw ApiError(400, "Query parameter '" + std::string(key) + "' must be an integer from " + std::to_string(lo) +
                            " to " + std::to_string(hi));
  return n;
}

json::value null_or(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }
json::value null_or_value(const std::optional<std::string>& s) { return s ? json::value(*s) : json::value(nullptr); }

json::value metadata_value(const std::string& text) {
  if (text.empty()) return json::object{};
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(json::object{}) : v;
}

}  // namespace vox::api
