#include "app/twilio_control.hpp"

#include <spdlog/spdlog.h>

#include "core/spawn.hpp"
#include "twilio/twiml.hpp"

namespace vox::app {
namespace asio = boost::asio;

void TwilioControl::transfer(const std::string& call_sid, const std::string& target) {
  twilio::UpdateCall u;
  u.twiml = twilio::dial(target, caller_id_);
  auto* rest = &rest_;
  vox::spawn(ioc_, [rest, call_sid, u]() -> asio::awaitable<void> {
    std::optional<std::string> failed;
    try {
      co_await rest->update_call(call_sid, u);
    } catch (const std::exception& e) {
      failed = e.what();
    }
    if (failed) spdlog::error("transfer of call {} failed at Twilio: {}", call_sid, *failed);
    else spdlog::info("call {} redirected to <Dial> at Twilio", call_sid);
  }, "transfer");
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
  auto* rest = &rest_;
  vox::spawn(ioc_, [rest, call_sid = call.call_sid, u, done = std::move(done)]() -> asio::awaitable<void> {
    std::optional<std::string> failed;
    try {
      co_await rest->update_call(call_sid, u);
    } catch (const std::exception& e) {
      failed = e.what();
    }
    if (failed) spdlog::error("sending digits on call {} failed at Twilio: {}", call_sid, *failed);
    else spdlog::info("call {} redirected to <Play digits> and a new stream at Twilio", call_sid);
    done(!failed);
  }, "sending digits");
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
