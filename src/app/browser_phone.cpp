#include "app/browser_phone.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

#include "api/control_common.hpp"
#include "cluster/forward.hpp"
#include "core/spawn.hpp"
#include "webrtc/peer.hpp"

namespace vox::app {
namespace asio = boost::asio;

namespace {

// A browser call's place on this instance: counted as being placed until it has started.
struct LocalAdmission final : browser::CallAdmission {
  explicit LocalAdmission(api::PlacingSlot s) : slot(std::move(s)) {}
  api::PlacingSlot slot;
};

// Its place in the company's set in Redis: given back if the call never started (once it
// has, the call's registration keeps it, and its end removes it).
struct ClusterAdmission final : browser::CallAdmission {
  ClusterAdmission(cluster::Cluster& c, std::string t, std::string s) : clu(c), tenant(std::move(t)), sid(std::move(s)) {}
  ~ClusterAdmission() override {
    if (!began) clu.release("calls", tenant, sid);
  }
  void call_started() override { began = true; }
  cluster::Cluster& clu;
  std::string tenant, sid;
  bool began = false;
};

// The control API's admission (the same check and answers), for a browser call.
asio::awaitable<void> admit_in_cluster(const api::ControlServices* svc, std::string tenant, std::string sid,
                                       browser::PhoneSettings::AdmitDone done) {
  std::string refusal;
  try {
    const api::Principal who(tenant, false);
    co_await api::admit_company_call(*svc, who, sid);
  } catch (const api::ApiError& e) {
    refusal = e.what();
  } catch (const std::exception& e) {
    spdlog::warn("browser call {}: the company call limit failed: {}", sid, e.what());
    refusal = "The company's call limit cannot be checked right now; try again shortly";
  }
  if (!refusal.empty()) {
    done(nullptr, refusal);
    co_return;
  }
  done(std::make_unique<ClusterAdmission>(svc->forwarder->cluster(), tenant, sid), "");
}

}  // namespace

decltype(browser::PhoneSettings::admit) company_admission(const api::ControlServices& services) {
  if (services.max_calls_per_company <= 0) return nullptr;
  const auto* svc = &services;
  if (svc->forwarder)
    return [svc](const std::string& tenant, const std::string& sid, browser::PhoneSettings::AdmitDone done) {
      vox::spawn(svc->forwarder->http().executor(), admit_in_cluster(svc, tenant, sid, std::move(done)),
                 "browser call admission");
    };
  return [svc](const std::string& tenant, const std::string& sid, browser::PhoneSettings::AdmitDone done) {
    std::string refusal;
    api::PlacingSlot slot;
    try {
      slot = api::admit_company_call_here(*svc, tenant, sid);
    } catch (const api::ApiError& e) {
      refusal = e.what();
    }
    if (!refusal.empty()) return done(nullptr, refusal);
    done(std::make_unique<LocalAdmission>(std::move(slot)), "");
  };
}

std::unique_ptr<BrowserPhone> make_browser_phone(call::CallServices services, call::CallStarter::MakeAgent make_agent,
                                                 const api::Tenants& tenants, std::chrono::milliseconds silence_limit) {
  auto phone = std::make_unique<BrowserPhone>();
  phone->settings.run_blocking = services.run_blocking;
  services.control = nullptr;  // no Twilio leg: hang-ups end the session, transfers and keys do nothing
  // A browser call's sid is new: no record to look up in the store.
  phone->starter = std::make_unique<call::CallStarter>(std::move(services), std::move(make_agent));
  phone->settings.silence_limit = silence_limit;
  phone->settings.connecting_webrtc = &phone->connecting_webrtc;
  phone->settings.authorize = [&tenants](std::string_view key) -> std::optional<std::string> {
    if (tenants.open()) return std::string(api::Tenants::kLocal);
    return tenants.tenant_for(key);
  };
  // GStreamer starts with the first WebRTC call (its plugin registry is slow to load the
  // first time), on a worker: servers that never see one never load it.
  auto run = phone->settings.run_blocking;
  phone->settings.prepare_webrtc = [run](std::function<void(std::string)> done) {
    auto job = [done = std::move(done)] {
      webrtc::warm_up();
      auto why = webrtc::webrtc_unavailable();
      static std::once_flag logged;
      if (!why.empty())
        std::call_once(logged, [&] { spdlog::warn("browser phone: WebRTC unavailable ({}); the WebSocket transport works", why); });
      done(std::move(why));
    };
    if (run) run(std::move(job));
    else job();
  };
  return phone;
}

void add_phone_socket(net::Router& router, BrowserPhone& phone) {
  router.add_ws("/phone/ws", [&phone](const net::HttpRequest& req, net::HttpResponse& reject) -> std::unique_ptr<net::WsHandler> {
    if (api::cross_origin(req)) {
      reject = net::HttpResponse::error(403, "Cross-origin WebSocket refused: open the phone from this server");
      return nullptr;
    }
    return std::make_unique<browser::PhoneSocketHandler>(phone.settings, *phone.starter);
  });
}

}  // namespace vox::app
