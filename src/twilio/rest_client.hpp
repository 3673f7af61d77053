#pragma once
// The Twilio Calls REST API (2010-04-01) over the shared pooled HTTPS client: HTTP Basic
// auth (AccountSid:AuthToken or API key SID:secret), PascalCase form bodies, snake_case
// JSON answers parsed into structs here, Twilio error bodies mapped to TwilioError.
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/provider_error.hpp"
#include "net/client.hpp"

namespace vox::twilio {

struct RestConfig {
  std::string account_sid;
  std::string auth_token;     // or, with api_key_sid, the API key secret
  std::string api_key_sid;    // optional: authenticate with an API key instead
  std::string base_url = "https://api.twilio.com";
};

// An error answered by Twilio ({"code","message","more_info","status"}) or a local
// validation failure (status 0 with Twilio's code, e.g. 21211 for a bad number): the one
// provider error type, provider "twilio", its numeric code in `code`.
using TwilioError = ProviderError;
// Makes one; status 0 with code 0 is a transport failure.
ProviderError twilio_error(int status, int code, const std::string& message, std::string more_info = {});

struct Call {
  std::string sid;
  std::string account_sid;
  std::string to;
  std::string from;
  std::string status;  // queued ringing in-progress completed busy failed no-answer canceled
  std::string direction;
  std::string duration;
  std::string start_time;
  std::string end_time;
  bool terminal() const;
};

// Passed by value to coroutines, so not aggregates (see net::TlsOptions).
struct CreateCall {
  CreateCall() {}
  std::string to;
  std::string from;
  std::string url;                      // TwiML URL, or
  std::string twiml;                    // inline TwiML
  std::string method;                   // GET or POST (default POST)
  std::string status_callback;
  std::vector<std::string> status_callback_events;  // initiated ringing answered completed
  std::string status_callback_method;
  std::optional<int> timeout_s;
  std::optional<int> time_limit_s;
  std::string machine_detection;        // Enable | DetectMessageEnd
  std::optional<bool> record;
};

struct UpdateCall {
  UpdateCall() {}
  std::string status;  // completed | canceled
  std::string url;
  std::string twiml;
  std::string method;
};

struct ListCalls {
  ListCalls() {}
  std::string to;
  std::string from;
  std::string status;
  int page_size = 50;
};

class RestClient {
 public:
  // Every request, its retries included, is given up after this long.
  static constexpr std::chrono::milliseconds kRequestBudget{10000};

  RestClient(net::HttpClient& http, RestConfig config);

  boost::asio::awaitable<Call> create_call(CreateCall request);
  boost::asio::awaitable<Call> fetch_call(std::string sid);
  boost::asio::awaitable<Call> update_call(std::string sid, UpdateCall request);
  boost::asio::awaitable<std::vector<Call>> list_calls(ListCalls filter);

  // Hangs up (Status=completed); a call already over is not an error.
  boost::asio::awaitable<void> complete_call(std::string sid);

  const RestConfig& config() const { return config_; }

 private:
  net::ClientRequest request(std::string method, std::string path) const;
  boost::asio::awaitable<std::string> send(net::ClientRequest request, int expected_status);

  net::HttpClient& http_;
  RestConfig config_;
};

// True for Twilio's final call statuses: completed, busy, failed, no-answer, canceled.
bool is_terminal_status(std::string_view status);
// E.164: "+" and 8 to 15 digits, no leading zero.
bool is_e164(std::string_view number);
// A call target Twilio accepts: E.164, sip:..., or client:...
bool is_call_endpoint(std::string_view to);
// application/x-www-form-urlencoded encoding of one component.
std::string form_encode(std::string_view s);
Call parse_call(std::string_view json);
TwilioError parse_error(int status, std::string_view body);

}  // namespace vox::twilio
