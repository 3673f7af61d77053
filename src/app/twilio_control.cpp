#include "app/twilio_control.hpp"

#include <spdlog/spdlog.h>

#include "core/spawn.hpp"
#include "twilio/twiml.hpp"

namespace vox::app {
namespace asio = boost::asio;

namespace {
// Updates the call at Twilio with `u`; logs what happened as `what`; then `done(ok)`.
asio::awaitable<void> update(twilio::RestClient& rest, std::string call_sid, twilio::UpdateCall u, std::string what,
                             std::function<void(bool)> done) {
  std::optional<std::string> failed;
  try {
    co_await rest.update_call(call_sid, u);
  } catch (const std::exception& e) {
    failed = e.what();
  }
  if (failed) spdlog::error("{} on call {} failed at Twilio: {}", what, call_sid, *failed);
  else spdlog::info("{} on call {}: accepted by Twilio", what, call_sid);
  if (done) done(!failed);
}
}  // namespace

void TwilioControl::transfer(const std::string& call_sid, const std::string& target) {
  twilio::UpdateCall u;
  u.twiml = twilio::dial(target, caller_id_);
  std::string sid = call_sid;
  std::string what = "transfer to <Dial>";
  vox::spawn(ioc_, update(rest_, std::move(sid), std::move(u), std::move(what), {}), "transfer");
}

void TwilioControl::send_digits(const call::CallContext& call, const std::string& digits,
                                std::function<void(bool ok)> done) {
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
  std::string sid = call.call_sid;
  std::string what = "keys then a new stream (<Play digits>)";
  vox::spawn(ioc_, update(rest_, std::move(sid), std::move(u), std::move(what), std::move(done)), "sending digits");
}

void TwilioControl::hang_up(const std::string& call_sid, const std::string& why) {
  vox::spawn(ioc_, complete(call_sid, why), "completing a call at Twilio");
}

asio::awaitable<void> TwilioControl::complete(std::string call_sid, std::string why) {
  std::optional<std::string> failed;
  try {
    co_await rest_.complete_call(call_sid);
  } catch (const std::exception& e) {
    failed = e.what();
  }
  if (failed) spdlog::warn("could not complete call {} ({}) at Twilio: {}", call_sid, why, *failed);
  else spdlog::info("call {} ({}) completed at Twilio", call_sid, why);
}

}  // namespace vox::app
