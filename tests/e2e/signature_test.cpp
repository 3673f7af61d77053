// X-Twilio-Signature on the webhook and the media WebSocket upgrade, against the real
// server binary with TWILIO_AUTH_TOKEN set.
#include <gtest/gtest.h>

#include "e2e_support.hpp"
#include "server_process.hpp"
#include "twilio/signature.hpp"

namespace vox::test {
namespace {

const std::string kToken = "test-auth-token-0123456789";
const std::string kForm =
    "CallSid=CA0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef"
    "&From=%2B15550001111&To=%2B15550002222&CallStatus=ringing&Direction=inbound";

net::HttpResponse post_webhook(const ServerProcess& server, const std::string& body, const std::string& signature,
                               const std::string& query = "") {
  net::Headers h = {{"Content-Type", "application/x-www-form-urlencoded"}};
  if (!signature.empty()) h.emplace_back("X-Twilio-Signature", signature);
  return http("POST", server.url() + "/twilio-voice" + query, body, h);
}

std::string sign(const std::string& url, const std::string& body) {
  return twilio::compute_signature(kToken, url, net::parse_form(body));
}

// Tries a media upgrade; returns the error text, or "" when the socket opened.
std::string try_media(const ServerProcess& server, const std::string& signature) {
  net::Headers h;
  if (!signature.empty()) h.emplace_back("X-Twilio-Signature", signature);
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/media";
  try {
    IoThread io;
    auto ws = io.run([&]() { return net::WsClient::connect(url, h); });
    io.run([&]() -> boost::asio::awaitable<bool> {
      ws->close();
      co_return true;
    });
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

TEST(Signatures, WebhookNeedsAValidSignature) {
  ServerProcess server({"--tts-voice", kVoice}, {"TWILIO_AUTH_TOKEN=" + kToken});
  const std::string url = server.url() + "/twilio-voice";
  EXPECT_EQ(post_webhook(server, kForm, "").status, 403);                           // missing
  EXPECT_EQ(post_webhook(server, kForm, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=").status, 403);  // forged
  EXPECT_EQ(post_webhook(server, kForm, twilio::compute_signature("wrong-token", url, net::parse_form(kForm))).status, 403);
  const auto good = sign(url, kForm);
  auto ok = post_webhook(server, kForm, good);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("<Stream"), std::string::npos);
  // Replayed with changed parameters, or to another URL: refused.
  const std::string changed = kForm + "&Digits=1";
  EXPECT_EQ(post_webhook(server, changed, good).status, 403);
  EXPECT_EQ(post_webhook(server, kForm, good, "?agent=script").status, 403);
  // A query string that was signed is fine.
  EXPECT_EQ(post_webhook(server, kForm, sign(url + "?agent=script", kForm), "?agent=script").status, 200);
  EXPECT_TRUE(server.wait_for_log("twilio signature mismatch"));
  EXPECT_TRUE(server.wait_for_log("twilio signature missing"));
}

TEST(Signatures, MediaUpgradeNeedsAValidSignature) {
  ServerProcess server({"--tts-voice", kVoice}, {"TWILIO_AUTH_TOKEN=" + kToken});
  const std::string ws_url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/media";
  EXPECT_NE(try_media(server, "").find("403"), std::string::npos);
  EXPECT_NE(try_media(server, twilio::compute_signature("wrong-token", ws_url, {})).find("403"), std::string::npos);
  EXPECT_NE(try_media(server, twilio::compute_signature(kToken, ws_url + "?x=1", {})).find("403"), std::string::npos);
  EXPECT_EQ(try_media(server, twilio::compute_signature(kToken, ws_url, {})), "");
}

TEST(Signatures, SignedCallConversesAndValidationCanBeTurnedOff) {
  {
    ServerProcess server({"--stt-mode", "grammar", "--stt-grammar", write_server_grammar("/tmp/vox-e2e-sig-grammar.txt"),
                          "--tts-voice", kVoice, "--greeting", kGreeting},
                         {"TWILIO_AUTH_TOKEN=" + kToken});
    sim::CallerOptions o;
    o.server_url = server.url();
    o.lines = {"good morning"};
    o.voice = kVoice;
    o.auth_token = kToken;
    auto results = sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 2);
    sim::transcribe(results, Engines::get().stt);
    ASSERT_TRUE(results[0].ok) << results[0].error << server.log_tail();
    ASSERT_EQ(results[0].heard.size(), 2u);
    EXPECT_EQ(results[0].heard[1].transcript, "you said good morning");
    // Unsigned, the same caller gets nowhere.
    o.auth_token.clear();
    auto refused = sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 2);
    EXPECT_FALSE(refused[0].ok);
    EXPECT_NE(refused[0].error.find("403"), std::string::npos) << refused[0].error;
  }
  ServerProcess open({"--tts-voice", kVoice, "--validate-signatures", "false"}, {"TWILIO_AUTH_TOKEN=" + kToken});
  EXPECT_EQ(post_webhook(open, kForm, "").status, 200);
}

}  // namespace
}  // namespace vox::test
