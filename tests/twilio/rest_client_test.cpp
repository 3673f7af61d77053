// The Twilio REST client against the in-process Twilio emulator over loopback. Every
// request is checked against twilio_api_v2010_calls.json, and so are the answers.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <future>

#include "core/base64.hpp"
#include "e2e/e2e_support.hpp"
#include "net/server.hpp"
#include "sim/twilio_emulator.hpp"
#include "support/openapi_check.hpp"
#include "twilio/rest_client.hpp"
#include "twilio/signature.hpp"

namespace vox::test {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;

const std::string kSid = "AC0123456789abcdef0123456789abcdef";
const std::string kToken = "rest-test-token";

// The emulator plus a status-callback receiver on one io_context.
class TwilioSetup {
 public:
  TwilioSetup() : tts_(speech::EspeakSettings{}) {
    sim::TwilioEmulatorOptions o;
    o.account_sid = kSid;
    o.auth_token = kToken;
    o.ring_ms = 50;
    emulator_ = std::make_unique<sim::TwilioEmulator>(io_.context(), o, tts_, nullptr);
    net::Router router;
    emulator_->add_routes(router);
    router.add("POST", "/status", [this](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
      std::lock_guard lock(mu_);
      callbacks_.push_back(req);
      co_return net::HttpResponse::text(200, "", "text/plain");
    });
    server_ = std::make_unique<net::Server>(io_.context(), std::move(router), net::ServerLimits{});
    port_ = server_->listen("127.0.0.1", 0);
    http_ = std::make_unique<net::HttpClient>(io_.context().get_executor());
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  twilio::RestClient client(const std::string& token = kToken) {
    return twilio::RestClient(*http_, twilio::RestConfig{kSid, token, {}, base()});
  }
  template <typename T>
  T run(std::function<asio::awaitable<T>()> f) {
    return io_.run(std::move(f));
  }
  json::array admin(const std::string& path) {
    auto r = io_.run([&]() { return net::http_request("GET", base() + path, {}, ""); });
    return json::parse(r.body).as_array();
  }
  std::vector<net::HttpRequest> callbacks() {
    std::lock_guard lock(mu_);
    return callbacks_;
  }

 private:
  speech::EspeakTts tts_;
  IoThread io_;
  std::unique_ptr<sim::TwilioEmulator> emulator_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<net::HttpClient> http_;
  std::uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<net::HttpRequest> callbacks_;
};

const testing::OpenApiSpec& spec() {
  static auto s = testing::OpenApiSpec::load(std::string(VOX_SPECS_DIR) + "/twilio_api_v2010_calls.json");
  return s;
}

TEST(TwilioRest, CallLifecycleConformsToTheSpecAndSignsCallbacks) {
  TwilioSetup t;
  auto rest = t.client();
  twilio::CreateCall c;
  c.to = "+15550002222";
  c.from = "+15550001111";
  c.twiml = "<Response><Hangup/></Response>";
  c.status_callback = t.base() + "/status";
  c.status_callback_events = {"initiated", "ringing", "answered", "completed"};
  c.status_callback_method = "POST";
  c.timeout_s = 20;
  auto call = t.run<twilio::Call>([&]() { return rest.create_call(c); });
  EXPECT_EQ(call.sid.size(), 34u);
  EXPECT_EQ(call.sid.substr(0, 2), "CA");
  EXPECT_EQ(call.status, "queued");
  // Follow it to the end.
  for (int i = 0; i < 200 && !call.terminal(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the REST API, as a client does
    call = t.run<twilio::Call>([&]() { return rest.fetch_call(call.sid); });
  }
  EXPECT_EQ(call.status, "completed");
  auto listed = t.run<std::vector<twilio::Call>>([&]() {
    twilio::ListCalls f;
    f.status = "completed";
    return rest.list_calls(f);
  });
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].sid, call.sid);
  t.run<bool>([&]() -> asio::awaitable<bool> {
    co_await rest.complete_call(call.sid);  // already over: not an error
    co_return true;
  });

  // The four requested callbacks arrived in order, each signed with the account's token.
  std::vector<std::string> statuses;
  for (int i = 0; i < 200 && t.callbacks().size() < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (const auto& cb : t.callbacks()) {
    const auto form = net::parse_form(cb.body);
    statuses.emplace_back(net::form_value(form, "CallStatus"));
    EXPECT_TRUE(twilio::validate_signature(kToken, t.base() + "/status", form, cb.header("X-Twilio-Signature")));
    EXPECT_EQ(net::form_value(form, "CallSid"), call.sid);
  }
  EXPECT_EQ(statuses, (std::vector<std::string>{"initiated", "ringing", "in-progress", "completed"}));

  // Every request the client made conforms to the OpenAPI extract.
  int checked = 0;
  for (const auto& v : t.admin("/emulator/requests")) {
    const auto& r = v.as_object();
    net::Headers headers;
    for (const auto& [k, val] : r.at("headers").as_object()) headers.emplace_back(std::string(k), std::string(val.as_string()));
    auto problems = spec().check_request(std::string(r.at("method").as_string()), std::string(r.at("target").as_string()),
                                         headers, std::string(r.at("content_type").as_string()),
                                         std::string(r.at("body").as_string()));
    EXPECT_TRUE(problems.empty()) << r.at("target").as_string() << ": " << problems.front();
    ++checked;
  }
  EXPECT_GE(checked, 4);  // create, fetches, list, update
}

TEST(TwilioRest, EmulatorAnswersConformToTheSpec) {
  TwilioSetup t;
  auto rest = t.client();
  twilio::CreateCall c;
  c.to = "+15550002222";
  c.from = "+15550001111";
  c.twiml = "<Response><Hangup/></Response>";
  auto call = t.run<twilio::Call>([&]() { return rest.create_call(c); });
  const std::string creds = "Basic " + [] {
    std::string b64;
    const std::string s = kSid + ":" + kToken;
    base64::append(b64, std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
    return b64;
  }();
  for (const std::string& target : {"/2010-04-01/Accounts/" + kSid + "/Calls/" + call.sid + ".json",
                                   "/2010-04-01/Accounts/" + kSid + "/Calls.json"}) {
    auto res = t.run<net::HttpResponse>([&]() {
      return net::http_request("GET", t.base() + target, {{"Authorization", creds}}, "");
    });
    ASSERT_EQ(res.status, 200) << res.body;
    auto problems = spec().check_response_json("GET", target, 200, res.body);
    EXPECT_TRUE(problems.empty()) << target << ": " << problems.front();
  }
}

TEST(TwilioRest, ErrorsAreTypedAndBadNumbersNeverLeave) {
  TwilioSetup t;
  twilio::CreateCall c;
  c.to = "5550002222";  // not E.164
  c.from = "+15550001111";
  c.url = "https://example.com/voice";
  auto rest = t.client();
  try {
    t.run<twilio::Call>([&]() { return rest.create_call(c); });
    FAIL() << "a bad number must be refused";
  } catch (const twilio::TwilioError& e) {
    EXPECT_EQ(e.numeric_code(), 21211);
  }
  EXPECT_TRUE(t.admin("/emulator/requests").empty());  // refused before any request
  auto bad = t.client("wrong-token");
  c.to = "+15550002222";
  try {
    t.run<twilio::Call>([&]() { return bad.create_call(c); });
    FAIL() << "a wrong token must fail";
  } catch (const twilio::TwilioError& e) {
    EXPECT_EQ(e.status, 401);
    EXPECT_EQ(e.numeric_code(), 20003);
  }
  try {
    t.run<twilio::Call>([&]() { return rest.fetch_call("CA00000000000000000000000000000000"); });
    FAIL() << "an unknown call must fail";
  } catch (const twilio::TwilioError& e) {
    EXPECT_EQ(e.status, 404);
    EXPECT_EQ(e.numeric_code(), 20404);
  }
  EXPECT_TRUE(twilio::is_e164("+14155550123"));
  EXPECT_FALSE(twilio::is_e164("+04155550123"));
  EXPECT_FALSE(twilio::is_e164("+1415555012345678"));
  EXPECT_TRUE(twilio::is_call_endpoint("sip:agent@example.com"));
}

}  // namespace
}  // namespace vox::test
