#include "twilio/twiml.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "net/http_types.hpp"
#include "sim/twiml_reader.hpp"

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

// --- play_digits_then_connect ------------------------------------------------------------

TEST(Twiml, PlayDigitsThenConnectIsExact) {
  StreamTwiml s;
  s.url = "wss://gw.example.com/media";
  s.status_callback = "https://gw.example.com/stream-status";
  s.parameters = {{"callSid", "CA1"}, {"note", R"(a<b & "c")"}};
  const std::string xml = play_digits_then_connect("12w#", s);
  EXPECT_EQ(xml, std::string(kDecl) +
                     R"(<Response><Play digits="12w#"/><Connect><Stream url="wss://gw.example.com/media" )"
                     R"(statusCallback="https://gw.example.com/stream-status" statusCallbackMethod="POST">)"
                     R"(<Parameter name="callSid" value="CA1"/>)"
                     R"(<Parameter name="note" value="a&lt;b &amp; &quot;c&quot;"/>)"
                     R"(</Stream></Connect></Response>)");
}

TEST(Twiml, PlayDigitsComesBeforeTheConnect) {
  StreamTwiml s;
  s.url = "wss://gw.example.com/media";
  s.status_callback = "https://gw.example.com/stream-status";
  s.parameters = {{"agent", "script"}};
  const std::string xml = play_digits_then_connect("12w#", s);
  EXPECT_EQ(xml.rfind(kDecl, 0), 0u) << xml;
  const auto play = xml.find(R"(<Play digits="12w#"/>)");
  const auto connect = xml.find(R"(<Connect><Stream url="wss://gw.example.com/media")");
  const auto callback = xml.find(R"(statusCallback="https://gw.example.com/stream-status")");
  const auto param = xml.find(R"(<Parameter name="agent" value="script"/>)");
  ASSERT_NE(play, std::string::npos) << xml;
  ASSERT_NE(connect, std::string::npos) << xml;
  ASSERT_NE(callback, std::string::npos) << xml;
  ASSERT_NE(param, std::string::npos) << xml;
  EXPECT_LT(play, connect);
  EXPECT_LT(connect, callback);
  EXPECT_LT(callback, param);
}

TEST(Twiml, PlayDigitsThenConnectEscapesAndWithoutParametersSelfCloses) {
  StreamTwiml s;
  s.url = "wss://h/media?a=1&b=2";
  const std::string xml = play_digits_then_connect(R"(1"<&>)", s);
  EXPECT_EQ(xml, std::string(kDecl) + R"(<Response><Play digits="1&quot;&lt;&amp;&gt;"/>)"
                                      R"(<Connect><Stream url="wss://h/media?a=1&amp;b=2"/></Connect></Response>)");
  const auto doc = sim::parse_twiml(xml);
  ASSERT_TRUE(doc.root) << doc.error;
  ASSERT_NE(doc.root->child("Play"), nullptr);
  EXPECT_EQ(doc.root->child("Play")->attr("digits"), R"(1"<&>)");
  ASSERT_NE(doc.root->child("Connect"), nullptr);
  const auto* stream = doc.root->child("Connect")->child("Stream");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->attr("url"), "wss://h/media?a=1&b=2");
  EXPECT_TRUE(stream->children.empty());
}

TEST(Twiml, PlayDigitsThenConnectParsesBackAsTwilioReadsIt) {
  StreamTwiml s;
  s.url = "wss://gw.example.com/media";
  s.name = "leg-2";
  s.status_callback = "https://gw.example.com/stream-status";
  s.parameters = {{"from", "+15550001111"}, {"note", R"(Tom & "Jerry" <cat's>)"}};
  const auto doc = sim::parse_twiml(play_digits_then_connect("12w#", s));
  ASSERT_TRUE(doc.root) << doc.error;
  const sim::TwimlNode& r = *doc.root;
  EXPECT_EQ(r.name, "Response");
  ASSERT_EQ(r.children.size(), 2u);

  const sim::TwimlNode& play = r.children[0];
  EXPECT_EQ(play.name, "Play");
  EXPECT_EQ(play.attrs, (std::map<std::string, std::string>{{"digits", "12w#"}}));
  EXPECT_TRUE(play.children.empty());
  EXPECT_EQ(play.text, "");

  const sim::TwimlNode& connect = r.children[1];
  EXPECT_EQ(connect.name, "Connect");
  ASSERT_EQ(connect.children.size(), 1u);
  const sim::TwimlNode& stream = connect.children[0];
  EXPECT_EQ(stream.name, "Stream");
  EXPECT_EQ(stream.attr("url"), "wss://gw.example.com/media");
  EXPECT_EQ(stream.attr("name"), "leg-2");
  EXPECT_EQ(stream.attr("statusCallback"), "https://gw.example.com/stream-status");
  EXPECT_EQ(stream.attr("statusCallbackMethod"), "POST");
  ASSERT_EQ(stream.children.size(), 2u);
  EXPECT_EQ(stream.children[0].name, "Parameter");
  EXPECT_EQ(stream.children[0].attr("name"), "from");
  EXPECT_EQ(stream.children[0].attr("value"), "+15550001111");
  EXPECT_EQ(stream.children[1].name, "Parameter");
  EXPECT_EQ(stream.children[1].attr("name"), "note");
  EXPECT_EQ(stream.children[1].attr("value"), R"(Tom & "Jerry" <cat's>)");
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
