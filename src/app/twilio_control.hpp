#pragma once
// What a call asks of Twilio's REST API while it runs: move the call to another number
// (<Dial>), press keys then reconnect the stream, and complete it. Requests go out as
// background coroutines; failures are logged.
#include <boost/asio/io_context.hpp>

#include <string>

#include "call/session.hpp"
#include "twilio/rest_client.hpp"

namespace vox::app {

class TwilioControl final : public call::CallControl {
 public:
  TwilioControl(boost::asio::io_context& ioc, twilio::RestClient& rest, std::string caller_id)
      : ioc_(ioc), rest_(rest), caller_id_(std::move(caller_id)) {}

  void transfer(const std::string& call_sid, const std::string& target) override;
  void send_digits(const call::CallContext& call, const std::string& digits, std::function<void(bool ok)> done) override;
  void hang_up(const std::string& call_sid, const std::string& why) override;
  // Completes the call at Twilio (Status=completed); `why` names the occasion in the log.
  boost::asio::awaitable<void> complete(std::string call_sid, std::string why);

 private:
  boost::asio::io_context& ioc_;
  twilio::RestClient& rest_;
  std::string caller_id_;
};

}  // namespace vox::app
