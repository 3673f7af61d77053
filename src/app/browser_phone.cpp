#include "app/browser_phone.hpp"

namespace vox::app {

std::unique_ptr<BrowserPhone> make_browser_phone(call::CallServices services, call::CallStarter::MakeAgent make_agent,
                                                 const api::Tenants& tenants, std::chrono::milliseconds silence_limit) {
  auto phone = std::make_unique<BrowserPhone>();
  services.control = nullptr;  // no Twilio leg: hang-ups end the session, transfers and keys do nothing
  // A browser call's sid is new: no record to look up in the store.
  phone->starter = std::make_unique<call::CallStarter>(std::move(services), std::move(make_agent));
  phone->settings.silence_limit = silence_limit;
  phone->settings.authorize = [&tenants](std::string_view key) -> std::optional<std::string> {
    if (tenants.open()) return std::string(api::Tenants::kLocal);
    return tenants.tenant_for(key);
  };
  return phone;
}

void add_phone_socket(net::Router& router, BrowserPhone& phone) {
  router.add_ws("/phone/ws", [&phone](const net::HttpRequest&, net::HttpResponse&) -> std::unique_ptr<net::WsHandler> {
    return std::make_unique<browser::PhoneSocketHandler>(phone.settings, *phone.starter);
  });
}

}  // namespace vox::app
