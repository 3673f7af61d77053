#pragma once
// Wires the browser softphone: its own CallStarter (the same services, agents and store
// as phone calls, but no Twilio control: a browser call has no PSTN leg to transfer or
// complete) and the /phone/ws WebSocket, keyed with the control API's company keys.
#include <memory>

#include "api/control.hpp"
#include "api/tenants.hpp"
#include "browser/phone_socket.hpp"
#include "call/starter.hpp"
#include "net/router.hpp"

namespace vox::app {

struct BrowserPhone {
  std::unique_ptr<call::CallStarter> starter;
  browser::PhoneSettings settings;
  std::atomic<int> connecting_webrtc{0};
};

std::unique_ptr<BrowserPhone> make_browser_phone(call::CallServices services, call::CallStarter::MakeAgent make_agent,
                                                 const api::Tenants& tenants, std::chrono::milliseconds silence_limit);
void add_phone_socket(net::Router& router, BrowserPhone& phone);
// --max-calls-per-company for browser calls, counted with the control API's calls (on
// this instance, or across the cluster in Redis); null when there is no limit.
decltype(browser::PhoneSettings::admit) company_admission(const api::ControlServices& services);

}  // namespace vox::app
