#include "app/browser_phone.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

#include "webrtc/peer.hpp"

namespace vox::app {

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
