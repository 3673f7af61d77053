// The softphone's protocol at the edge: every page message parsed into its struct, and
// everything malformed, oversized or of the wrong type turned into a reason for the page.
#include <gtest/gtest.h>

#include "browser/phone_messages.hpp"
#include "browser/phone_socket.hpp"

namespace vox::browser {
namespace {

// The parsed message as a T (a copy: the message is a temporary), or T{} after a failure.
template <typename T>
T as(const PhoneMessage& m) {
  EXPECT_TRUE(std::holds_alternative<T>(m)) << (std::holds_alternative<PhoneBad>(m) ? std::get<PhoneBad>(m).reason : "");
  return std::holds_alternative<T>(m) ? std::get<T>(m) : T{};
}

std::string bad(std::string_view text) {
  const auto m = parse_phone_message(text);
  return std::holds_alternative<PhoneBad>(m) ? std::get<PhoneBad>(m).reason : std::string("(parsed)");
}

TEST(PhoneMessages, StartCarriesKeyAgentVoiceGreetingAndTransport) {
  const auto s = as<PhoneStart>(parse_phone_message(
      R"({"type":"start","key":"k-123456","agent":"echo","agent_id":"bot","voice":"v1","greeting":"","transport":"webrtc"})"));
  EXPECT_EQ(s.key, "k-123456");
  EXPECT_EQ(s.agent, "echo");
  EXPECT_EQ(s.agent_id, "bot");
  EXPECT_EQ(s.voice, "v1");
  EXPECT_TRUE(s.has_greeting);
  EXPECT_EQ(s.greeting, "");
  EXPECT_TRUE(s.webrtc);
  const auto plain = as<PhoneStart>(parse_phone_message(R"({"type":"start"})"));
  EXPECT_FALSE(plain.has_greeting);
  EXPECT_FALSE(plain.webrtc);
}

TEST(PhoneMessages, MarksKeysHangupOfferAndIce) {
  EXPECT_EQ(as<PhoneMark>(parse_phone_message(R"({"type":"mark","name":"r1c2"})")).name, "r1c2");
  EXPECT_EQ(as<PhoneDtmf>(parse_phone_message(R"({"type":"dtmf","digit":"#"})")).digit, "#");
  EXPECT_TRUE(std::holds_alternative<PhoneHangup>(parse_phone_message(R"({"type":"hangup"})")));
  EXPECT_TRUE(std::holds_alternative<PhonePing>(parse_phone_message(R"({"type":"ping"})")));
  EXPECT_EQ(as<PhoneOffer>(parse_phone_message(R"({"type":"offer","sdp":"v=0\r\n"})")).sdp, "v=0\r\n");
  const auto ice = as<PhoneIce>(parse_phone_message(R"({"type":"ice","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMLineIndex":1})"));
  EXPECT_EQ(ice.mline_index, 1);
  EXPECT_EQ(ice.candidate.rfind("candidate:1", 0), 0u);
}

TEST(PhoneMessages, MalformedInputGetsAReason) {
  EXPECT_EQ(bad("not json"), "not a JSON object");
  EXPECT_EQ(bad("[1,2]"), "not a JSON object");
  EXPECT_EQ(bad(R"({"kind":"start"})"), "missing \"type\"");
  EXPECT_EQ(bad(R"({"type":"fly"})"), "unknown type \"fly\"");
  EXPECT_EQ(bad(R"({"type":"start","agent":5})"), "agent must be a string");
  EXPECT_EQ(bad(R"({"type":"start","transport":"carrier-pigeon"})"), "transport must be \"ws\" or \"webrtc\"");
  EXPECT_EQ(bad(R"({"type":"dtmf","digit":"12"})"), "digit must be one of 0-9, *, #, A-D");
  EXPECT_EQ(bad(R"({"type":"dtmf","digit":"x"})"), "digit must be one of 0-9, *, #, A-D");
  EXPECT_EQ(bad(R"({"type":"offer"})"), "offer without an sdp");
  EXPECT_EQ(bad(R"({"type":"ice","candidate":"c","sdpMLineIndex":-1})"), "sdpMLineIndex must be 0-16");
  EXPECT_EQ(bad(R"({"type":"ice","candidate":"c","sdpMLineIndex":"0"})"), "sdpMLineIndex must be 0-16");
}

TEST(PhoneMessages, SizesAreBounded) {
  const std::string long_key(kMaxPhoneField + 1, 'k');
  EXPECT_EQ(bad(R"({"type":"start","key":")" + long_key + "\"}"), "key is longer than 256 bytes");
  const std::string long_greeting(kMaxPhoneGreeting + 1, 'g');
  EXPECT_EQ(bad(R"({"type":"start","greeting":")" + long_greeting + "\"}"), "greeting is longer than 1000 bytes");
  const std::string huge(kMaxPhoneText + 1, ' ');
  EXPECT_EQ(bad(huge), "message longer than 32768 bytes");
  const std::string long_candidate(kMaxPhoneCandidate + 1, 'c');
  EXPECT_EQ(bad(R"({"type":"ice","candidate":")" + long_candidate + "\"}"), "candidate is longer than 1024 bytes");
}

TEST(PhoneMessages, ServerMessagesAreJson) {
  std::string out;
  write_phone_mark(out, "r1\"c2");
  EXPECT_EQ(out, R"({"type":"mark","name":"r1c2"})");
  EXPECT_EQ(phone_started("WB1", "MZ1"), R"({"type":"started","call_sid":"WB1","stream_sid":"MZ1"})");
  EXPECT_EQ(phone_ended("bye"), R"({"type":"ended","reason":"bye"})");
  EXPECT_EQ(phone_ice("candidate:x", 0), R"({"type":"ice","candidate":"candidate:x","sdpMLineIndex":0})");
}

TEST(PhoneMessages, BrowserCallSids) {
  const auto sid = new_browser_call_sid();
  EXPECT_TRUE(browser_call_sid(sid)) << sid;
  EXPECT_NE(sid, new_browser_call_sid());
  EXPECT_FALSE(browser_call_sid("CA" + sid.substr(2)));
  EXPECT_FALSE(browser_call_sid(sid.substr(0, 33)));
  EXPECT_FALSE(browser_call_sid("WB" + std::string(32, 'Z')));
}

}  // namespace
}  // namespace vox::browser
