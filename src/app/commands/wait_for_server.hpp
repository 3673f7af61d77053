#pragma once
// The command-line clients (call, sim caller, talk, loadtest) are often started right
// after the server they talk to, in the same script (`voxbridge serve & voxbridge sim
// caller ...`). Before their first request they wait until that server accepts
// connections, saying so once, instead of failing with "connection refused".
#include <chrono>
#include <string>
#include <string_view>

namespace vox::app {

// Waits until something accepts TCP connections at `url`'s host and port; returns false
// when `max` passes first (or the URL has no host). `what` names the server in the one
// line printed while waiting ("the gateway", "Twilio").
bool wait_for_server(const std::string& url, std::chrono::seconds max, std::string_view what);

}  // namespace vox::app
