#include "twilio/twiml.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "net/http_types.hpp"

namespace vox::twilio {
namespace {

constexpr const char* kDecl = R"(<?xml version="1.0" encoding="UTF-8"?>)";

TEST(Twiml, ConnectStreamWithoutParametersIsSelfClosed) {
  StreamTwiml s;
  s.url = "wss://gw.example.com/media";
  EXPECT_EQ(connect_stream(s), std::string(kDecl) +
                                   R"(<Response><Connect><Stream url="wss://gw.example.com/media"/></Connect></Response>)");
}

TEST(Twiml, ConnectStreamWithParameters) {
  StreamTwiml s;
  s.url = "wss://gw.example.com/media";
  s.parameters = {{"tenant", "acme"}, {"voiceId", "21m00Tcm4TlvDq8ikWAM"}};
  EXPECT_EQ(connect_stream(s), std::string(kDecl) +
                                   R"(<Response><Connect><Stream url="wss://gw.example.com/media">)"
                                   R"(<Parameter name="tenant" value="acme"/>)"
                                   R"(<Parameter name="voiceId" value="21m00Tcm4TlvDq8ikWAM"/>)"
                                   R"(</Stream></Connect></Response>)");
}

TEST(Twiml, ConnectStreamWithNameAndStatusCallback) {
  StreamTwiml s;
  s.url = "wss://gw.example.com/media";
  s.name = "agent-leg";
  s.status_callback = "https://gw.example.com/stream-status";
  s.parameters = {{"a", "1"}};
  EXPECT_EQ(connect_stream(s), std::string(kDecl) +
                                   R"(<Response><Connect><Stream url="wss://gw.example.com/media" name="agent-leg" )"
                                   R"(statusCallback="https://gw.example.com/stream-status" statusCallbackMethod="POST">)"
                                   R"(<Parameter name="a" value="1"/></Stream></Connect></Response>)");
}

TEST(Twiml, RepeatedParameterNamesAreKeptInOrder) {
  StreamTwiml s;
  s.url = "wss://h/media";
  s.parameters = {{"k", "2"}, {"k", "1"}};
  const std::string xml = connect_stream(s);
  const auto first = xml.find(R"(<Parameter name="k" value="2"/>)");
  const auto second = xml.find(R"(<Parameter name="k" value="1"/>)");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(second, std::string::npos);
  EXPECT_LT(first, second);
}

TEST(Twiml, EscapesSpecialCharactersInUrlAndParameters) {
  StreamTwiml s;
  s.url = R"(wss://h/media?a=1&b="2"<'x'>)";
  s.name = "n&m";
  s.parameters = {{R"(k<"&">')", R"(Tom & "Jerry" <cat's>)"}};
  EXPECT_EQ(connect_stream(s),
            std::string(kDecl) +
                R"(<Response><Connect><Stream url="wss://h/media?a=1&amp;b=&quot;2&quot;&lt;&apos;x&apos;&gt;" name="n&amp;m">)"
                R"(<Parameter name="k&lt;&quot;&amp;&quot;&gt;&apos;" value="Tom &amp; &quot;Jerry&quot; &lt;cat&apos;s&gt;"/>)"
                R"(</Stream></Connect></Response>)");
}

TEST(Twiml, XmlEscape) {
  EXPECT_EQ(xml_escape(R"(&<>"')"), "&amp;&lt;&gt;&quot;&apos;");
  EXPECT_EQ(xml_escape("plain text"), "plain text");
  EXPECT_EQ(xml_escape("&amp;"), "&amp;amp;");  // not double-decoded: escaped again
  EXPECT_EQ(xml_escape("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 passes through
  EXPECT_EQ(xml_escape(""), "");
}

TEST(Twiml, DropsControlCharactersXmlForbids) {
  EXPECT_EQ(xml_escape(std::string("a\x01" "b\x08" "c\x0b" "d\x0c" "e\x1f" "f\x00" "g", 13)), "abcdefg");
  StreamTwiml s;
  s.url = "wss://h/media";
  s.parameters = {{"k\x02", "v\x1b" "alue"}};
  EXPECT_EQ(connect_stream(s), std::string(kDecl) +
                                   R"(<Response><Connect><Stream url="wss://h/media">)"
                                   R"(<Parameter name="k" value="value"/></Stream></Connect></Response>)");
}

// --- media_stream_url ---------------------------------------------------------------------

TEST(MediaStreamUrl, HttpsBaseGivesWss) {
  EXPECT_EQ(media_stream_url("https://gw.example.com", "ignored.example.com"), "wss://gw.example.com/media");
  EXPECT_EQ(media_stream_url("https://gw.example.com:8443", ""), "wss://gw.example.com:8443/media");
}

TEST(MediaStreamUrl, HttpBaseGivesWs) {
  EXPECT_EQ(media_stream_url("http://localhost:8001", ""), "ws://localhost:8001/media");
  EXPECT_EQ(media_stream_url("http://gw.example.com", "", "https"), "ws://gw.example.com/media");
}

TEST(MediaStreamUrl, WebSocketSchemesInTheBaseAreKept) {
  EXPECT_EQ(media_stream_url("wss://gw.example.com", ""), "wss://gw.example.com/media");
  EXPECT_EQ(media_stream_url("ws://gw.example.com", ""), "ws://gw.example.com/media");
}

TEST(MediaStreamUrl, TrailingSlashesAreRemoved) {
  EXPECT_EQ(media_stream_url("https://gw.example.com/", ""), "wss://gw.example.com/media");
  EXPECT_EQ(media_stream_url("https://gw.example.com//", ""), "wss://gw.example.com/media");
}

TEST(MediaStreamUrl, PathPrefixIsKept) {
  EXPECT_EQ(media_stream_url("https://gw.example.com/voice", ""), "wss://gw.example.com/voice/media");
  EXPECT_EQ(media_stream_url("https://gw.example.com/voice/", ""), "wss://gw.example.com/voice/media");
  EXPECT_EQ(media_stream_url("https://gw.example.com/a/b/", "", "", "/twilio/ws"), "wss://gw.example.com/a/b/twilio/ws");
}

TEST(MediaStreamUrl, HostHeaderFallbackIsWssForAPublicHost) {
  EXPECT_EQ(media_stream_url("", "gw.example.com"), "wss://gw.example.com/media");
  EXPECT_EQ(media_stream_url("", "abc123.ngrok.app:443"), "wss://abc123.ngrok.app:443/media");
  EXPECT_EQ(media_stream_url("", "203.0.113.7:8001"), "wss://203.0.113.7:8001/media");
}

TEST(MediaStreamUrl, HostHeaderFallbackIsWsForLoopback) {
  EXPECT_EQ(media_stream_url("", "localhost"), "ws://localhost/media");
  EXPECT_EQ(media_stream_url("", "localhost:8001"), "ws://localhost:8001/media");
  EXPECT_EQ(media_stream_url("", "127.0.0.1:8001"), "ws://127.0.0.1:8001/media");
  EXPECT_EQ(media_stream_url("", "[::1]:8001"), "ws://[::1]:8001/media");
}

TEST(MediaStreamUrl, ForwardedProtoIsRespected) {
  EXPECT_EQ(media_stream_url("", "gw.example.com", "http"), "ws://gw.example.com/media");
  EXPECT_EQ(media_stream_url("", "gw.example.com", "https"), "wss://gw.example.com/media");
  // A TLS-terminating proxy in front of a local server: the public side is https.
  EXPECT_EQ(media_stream_url("", "localhost:8001", "https"), "wss://localhost:8001/media");
}

TEST(MediaStreamUrl, CustomPath) {
  EXPECT_EQ(media_stream_url("", "gw.example.com", "", "/ws/twilio"), "wss://gw.example.com/ws/twilio");
}

}  // namespace
}  // namespace vox::twilio

namespace vox::net {
namespace {

using Form = std::vector<std::pair<std::string, std::string>>;

TEST(ParseForm, PlusIsASpaceAndPercent2BIsAPlus) {
  EXPECT_EQ(parse_form("From=%2B14158675309&Msg=hello+world"),
            (Form{{"From", "+14158675309"}, {"Msg", "hello world"}}));
}

TEST(ParseForm, DecodesPercentEscapesInNamesAndValues) {
  EXPECT_EQ(parse_form("a%20b=c%26d%3De&url=https%3A%2F%2Fx%2Fy%3Fq%3D1"),
            (Form{{"a b", "c&d=e"}, {"url", "https://x/y?q=1"}}));
  EXPECT_EQ(parse_form("name=caf%C3%A9"), (Form{{"name", "caf\xc3\xa9"}}));
}

TEST(ParseForm, RepeatedKeysAreKeptInOrder) {
  const Form f = parse_form("StatusCallbackEvent=initiated&x=1&StatusCallbackEvent=answered");
  EXPECT_EQ(f, (Form{{"StatusCallbackEvent", "initiated"}, {"x", "1"}, {"StatusCallbackEvent", "answered"}}));
  EXPECT_EQ(form_value(f, "StatusCallbackEvent"), "initiated");
}

TEST(ParseForm, MissingAndEmptyValues) {
  EXPECT_EQ(parse_form("flag&empty=&k=v"), (Form{{"flag", ""}, {"empty", ""}, {"k", "v"}}));
}

TEST(ParseForm, EmptyBodyAndEmptySegments) {
  EXPECT_TRUE(parse_form("").empty());
  EXPECT_EQ(parse_form("a=1&&b=2&"), (Form{{"a", "1"}, {"b", "2"}}));
}

TEST(ParseForm, KeepsMalformedEscapesLiterally) {
  // http_types.hpp: "Malformed escapes are kept literally."
  EXPECT_EQ(parse_form("a=100%&b=%zz&c=ok"), (Form{{"a", "100%"}, {"b", "%zz"}, {"c", "ok"}}));
}

TEST(FormValue, ReturnsFirstValueOrEmpty) {
  const Form f = {{"CallSid", "CA1"}, {"CallSid", "CA2"}, {"Empty", ""}};
  EXPECT_EQ(form_value(f, "CallSid"), "CA1");
  EXPECT_EQ(form_value(f, "Empty"), "");
  EXPECT_EQ(form_value(f, "Missing"), "");
  EXPECT_EQ(form_value(f, "callsid"), "");  // names are case-sensitive
  EXPECT_EQ(form_value({}, "CallSid"), "");
}

}  // namespace
}  // namespace vox::net
