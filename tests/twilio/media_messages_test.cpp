#include "twilio/media_messages.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/base64.hpp"

namespace vox::twilio {
namespace {

constexpr const char* kStreamSid = "MZ0123456789abcdef0123456789abcdef";
constexpr const char* kAccountSid = "AC0123456789abcdef0123456789abcdef";
constexpr const char* kCallSid = "CA0123456789abcdef0123456789abcdef";

// Returns the body as T, or fails the test (reporting a ParseError's reason).
template <typename T>
const T* body_as(const Message& m) {
  if (const auto* e = std::get_if<ParseError>(&m.body)) {
    ADD_FAILURE() << "unexpected ParseError: " << e->reason;
    return nullptr;
  }
  const T* t = std::get_if<T>(&m.body);
  if (!t) ADD_FAILURE() << "body holds alternative " << m.body.index();
  return t;
}

std::optional<std::vector<std::uint8_t>> unbase64(std::string_view s) {
  std::vector<std::uint8_t> out(base64::max_decoded_size(s.size()));
  const auto n = base64::decode(s, out);
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

std::vector<std::uint8_t> all_bytes() {
  std::vector<std::uint8_t> v(256);
  for (int i = 0; i < 256; ++i) v[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  return v;
}

// Asserts that `text` is rejected with a reason mentioning `expected`, then that the
// same parser still parses a good message.
void expect_rejected(MessageParser& p, std::string_view text, std::string_view expected) {
  SCOPED_TRACE(std::string(text.substr(0, 80)));
  const Message m = p.parse(text);
  const auto* e = std::get_if<ParseError>(&m.body);
  ASSERT_NE(e, nullptr) << "accepted, alternative " << m.body.index();
  EXPECT_NE(e->reason.find(expected), std::string::npos) << "reason: " << e->reason;

  const Message next = p.parse(R"({"event":"mark","streamSid":"MZ1","mark":{"name":"after"}})");
  const auto* mark = body_as<Mark>(next);
  ASSERT_NE(mark, nullptr);
  EXPECT_EQ(mark->name, "after");
  EXPECT_EQ(next.stream_sid, "MZ1");
}

// --- messages from the spec -----------------------------------------------------------

TEST(MessageParser, ParsesConnected) {
  MessageParser p;
  const Message m = p.parse(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
  const auto* c = body_as<Connected>(m);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->protocol, "Call");
  EXPECT_EQ(c->version, "1.0.0");
  EXPECT_EQ(m.event, "connected");
  EXPECT_EQ(m.stream_sid, "");
  EXPECT_EQ(m.sequence_number, -1);
}

TEST(MessageParser, ParsesStartWithCustomParametersAndMediaFormat) {
  MessageParser p;
  const Message m = p.parse(R"({
    "event": "start",
    "sequenceNumber": "1",
    "start": {
      "accountSid": "AC0123456789abcdef0123456789abcdef",
      "streamSid": "MZ0123456789abcdef0123456789abcdef",
      "callSid": "CA0123456789abcdef0123456789abcdef",
      "tracks": ["inbound"],
      "customParameters": {"tenant": "acme", "voiceId": "21m00Tcm4TlvDq8ikWAM"},
      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    },
    "streamSid": "MZ0123456789abcdef0123456789abcdef"
  })");
  const auto* s = body_as<Start>(m);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(m.event, "start");
  EXPECT_EQ(m.stream_sid, kStreamSid);
  EXPECT_EQ(m.sequence_number, 1);
  EXPECT_EQ(s->stream_sid, kStreamSid);
  EXPECT_EQ(s->account_sid, kAccountSid);
  EXPECT_EQ(s->call_sid, kCallSid);
  EXPECT_EQ(s->tracks, std::vector<std::string>{"inbound"});
  EXPECT_EQ(s->custom_parameters,
            (std::map<std::string, std::string>{{"tenant", "acme"}, {"voiceId", "21m00Tcm4TlvDq8ikWAM"}}));
  EXPECT_EQ(s->encoding, "audio/x-mulaw");
  EXPECT_EQ(s->sample_rate, 8000);
  EXPECT_EQ(s->channels, 1);
}

TEST(MessageParser, StartWithoutOptionalPartsHasEmptyDefaults) {
  MessageParser p;
  const Message m = p.parse(
      R"({"event":"start","sequenceNumber":"1","start":{"callSid":"CA1","customParameters":{}},"streamSid":"MZ9"})");
  const auto* s = body_as<Start>(m);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->stream_sid, "MZ9");  // falls back to the top-level streamSid
  EXPECT_EQ(s->call_sid, "CA1");
  EXPECT_EQ(s->account_sid, "");
  EXPECT_TRUE(s->tracks.empty());
  EXPECT_TRUE(s->custom_parameters.empty());
  EXPECT_EQ(s->encoding, "");
  EXPECT_EQ(s->sample_rate, 0);
  EXPECT_EQ(s->channels, 0);
}

TEST(MessageParser, StartKeepsBothTracksAndSkipsNonStringParameters) {
  MessageParser p;
  const Message m = p.parse(
      R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","tracks":["inbound","outbound"],)"
      R"("customParameters":{"a":"1","n":2,"o":{}}}})");
  const auto* s = body_as<Start>(m);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->tracks, (std::vector<std::string>{"inbound", "outbound"}));
  EXPECT_EQ(s->custom_parameters, (std::map<std::string, std::string>{{"a", "1"}}));
  EXPECT_EQ(m.sequence_number, -1);
}

TEST(MessageParser, ParsesMediaWithStringNumbers) {
  MessageParser p;
  const Message m = p.parse(
      R"({"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"2","timestamp":"40",)"
      R"("payload":"fn5+fn5+"},"streamSid":"MZ0123456789abcdef0123456789abcdef"})");
  const auto* md = body_as<Media>(m);
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(m.event, "media");
  EXPECT_EQ(m.stream_sid, kStreamSid);
  EXPECT_EQ(m.sequence_number, 3);
  EXPECT_EQ(md->track, "inbound");
  EXPECT_EQ(md->chunk, 2);
  EXPECT_EQ(md->timestamp_ms, 40);
  EXPECT_EQ(md->payload, "fn5+fn5+");
  EXPECT_EQ(unbase64(md->payload), (std::vector<std::uint8_t>{0x7E, 0x7E, 0x7E, 0x7E, 0x7E, 0x7E}));
}

TEST(MessageParser, ParsesMediaWithJsonNumbers) {
  MessageParser p;
  const Message m = p.parse(
      R"({"event":"media","sequenceNumber":12345678901,"media":{"track":"outbound","chunk":7,"timestamp":140,)"
      R"("payload":"/w=="},"streamSid":"MZ2"})");
  const auto* md = body_as<Media>(m);
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(m.sequence_number, 12345678901);
  EXPECT_EQ(md->track, "outbound");
  EXPECT_EQ(md->chunk, 7);
  EXPECT_EQ(md->timestamp_ms, 140);
  EXPECT_EQ(md->payload, "/w==");
}

TEST(MessageParser, MediaNumbersThatAreNotIntegersAreMinusOne) {
  MessageParser p;
  const Message m = p.parse(
      R"({"event":"media","sequenceNumber":"3x","media":{"chunk":"","timestamp":"1.5","payload":""},"streamSid":"MZ2"})");
  const auto* md = body_as<Media>(m);
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(m.sequence_number, -1);
  EXPECT_EQ(md->chunk, -1);
  EXPECT_EQ(md->timestamp_ms, -1);
  EXPECT_EQ(md->payload, "");
  EXPECT_EQ(md->track, "");
}

TEST(MessageParser, ParsesMark) {
  MessageParser p;
  const Message m = p.parse(R"({"event":"mark","sequenceNumber":"120","streamSid":"MZ3","mark":{"name":"utt-7-end"}})");
  const auto* mk = body_as<Mark>(m);
  ASSERT_NE(mk, nullptr);
  EXPECT_EQ(mk->name, "utt-7-end");
  EXPECT_EQ(m.event, "mark");
  EXPECT_EQ(m.stream_sid, "MZ3");
  EXPECT_EQ(m.sequence_number, 120);
}

TEST(MessageParser, ParsesDtmf) {
  MessageParser p;
  const Message m =
      p.parse(R"({"event":"dtmf","streamSid":"MZ4","sequenceNumber":"57","dtmf":{"track":"inbound_track","digit":"#"}})");
  const auto* d = body_as<Dtmf>(m);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->track, "inbound_track");
  EXPECT_EQ(d->digit, "#");
  EXPECT_EQ(m.event, "dtmf");
  EXPECT_EQ(m.stream_sid, "MZ4");
  EXPECT_EQ(m.sequence_number, 57);
}

TEST(MessageParser, ParsesStop) {
  MessageParser p;
  const Message m = p.parse(
      R"({"event":"stop","sequenceNumber":"5000","streamSid":"MZ5","stop":{"accountSid":"AC5","callSid":"CA5"}})");
  const auto* s = body_as<Stop>(m);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->account_sid, "AC5");
  EXPECT_EQ(s->call_sid, "CA5");
  EXPECT_EQ(m.event, "stop");
  EXPECT_EQ(m.stream_sid, "MZ5");
  EXPECT_EQ(m.sequence_number, 5000);
}

TEST(MessageParser, StopWithoutDetailsIsStillAStop) {
  MessageParser p;
  const Message m = p.parse(R"({"event":"stop","streamSid":"MZ5","extra":{"ignored":true}})");
  const auto* s = body_as<Stop>(m);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->account_sid, "");
  EXPECT_EQ(s->call_sid, "");
}

TEST(MessageParser, ParsesClear) {
  MessageParser p;
  const Message m = p.parse(R"({"event":"clear","streamSid":"MZ6"})");
  EXPECT_NE(body_as<Clear>(m), nullptr);
  EXPECT_EQ(m.event, "clear");
  EXPECT_EQ(m.stream_sid, "MZ6");
  EXPECT_EQ(m.sequence_number, -1);
}

TEST(MessageParser, IgnoresUnknownFieldsAndWhitespace) {
  MessageParser p;
  const Message m = p.parse(" \n{ \"future\" : [1, {\"x\": null}], \"event\" : \"mark\", \"mark\" : {\"name\":\"m\", \"y\":1} }\n");
  const auto* mk = body_as<Mark>(m);
  ASSERT_NE(mk, nullptr);
  EXPECT_EQ(mk->name, "m");
}

TEST(MessageParser, ParsesAMessageLargerThanItsArena) {
  // 13000 bytes of audio is 17336 base64 characters: more than the 16 KiB arena.
  std::vector<std::uint8_t> audio(13000);
  for (std::size_t i = 0; i < audio.size(); ++i) audio[i] = static_cast<std::uint8_t>(i * 7);
  std::string text;
  write_inbound_media(text, "MZ7", 2, 1, 0, audio);
  ASSERT_GT(text.size(), 16u * 1024);
  MessageParser p;
  for (int round = 0; round < 3; ++round) {
    const Message m = p.parse(text);
    const auto* md = body_as<Media>(m);
    ASSERT_NE(md, nullptr);
    EXPECT_EQ(unbase64(md->payload), audio);
    const Message small = p.parse(R"({"event":"clear","streamSid":"MZ8"})");
    EXPECT_NE(body_as<Clear>(small), nullptr);
    EXPECT_EQ(small.stream_sid, "MZ8");
  }
}

// --- malformed input --------------------------------------------------------------------

TEST(MessageParser, RejectsTextThatIsNotJson) {
  MessageParser p;
  expect_rejected(p, "hello", "malformed JSON");
  expect_rejected(p, "", "malformed JSON");
  expect_rejected(p, R"({"event":"media")", "malformed JSON");                  // truncated
  expect_rejected(p, R"({"event":"clear","streamSid":"MZ1"} {})", "malformed JSON");  // two values
  expect_rejected(p, R"({"event":"clear",})", "malformed JSON");
}

TEST(MessageParser, RejectsJsonThatIsNotAnObject) {
  MessageParser p;
  expect_rejected(p, R"([{"event":"clear"}])", "not a JSON object");
  expect_rejected(p, R"("clear")", "not a JSON object");
  expect_rejected(p, "42", "not a JSON object");
  expect_rejected(p, "null", "not a JSON object");
}

TEST(MessageParser, RejectsMessageWithoutEvent) {
  MessageParser p;
  expect_rejected(p, R"({"streamSid":"MZ1","media":{"payload":""}})", "\"event\"");
  expect_rejected(p, R"({"event":7})", "\"event\"");
  expect_rejected(p, R"({"event":""})", "\"event\"");
}

TEST(MessageParser, RejectsUnknownEventNamingIt) {
  MessageParser p;
  expect_rejected(p, R"({"event":"hangup","streamSid":"MZ1"})", "unknown event \"hangup\"");
}

TEST(MessageParser, RejectsMediaWithoutPayload) {
  MessageParser p;
  expect_rejected(p, R"({"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"1"}})",
                  "media.payload");
  expect_rejected(p, R"({"event":"media","streamSid":"MZ1","media":{"payload":123}})", "media.payload");
  expect_rejected(p, R"({"event":"media","streamSid":"MZ1"})", "\"media\"");
  expect_rejected(p, R"({"event":"media","streamSid":"MZ1","media":"AAAA"})", "\"media\"");
}

TEST(MessageParser, RejectsStartWithoutCallSid) {
  MessageParser p;
  expect_rejected(p, R"({"event":"start","start":{"streamSid":"MZ1","accountSid":"AC1"},"streamSid":"MZ1"})",
                  "callSid");
  expect_rejected(p, R"({"event":"start","start":{"streamSid":"MZ1","callSid":""}})", "callSid");
  expect_rejected(p, R"({"event":"start","streamSid":"MZ1"})", "\"start\"");
}

TEST(MessageParser, RejectsStartWithImplausibleStreamSid) {
  MessageParser p;
  expect_rejected(p, R"({"event":"start","start":{"streamSid":"MZ\"><x","callSid":"CA1"}})", "streamSid");
  expect_rejected(p, R"({"event":"start","start":{"streamSid":"MZ 1","callSid":"CA1"}})", "streamSid");
  expect_rejected(p, R"({"event":"start","start":{"callSid":"CA1"}})", "streamSid");
}

TEST(MessageParser, RejectsMarkAndDtmfWithoutTheirField) {
  MessageParser p;
  expect_rejected(p, R"({"event":"mark","streamSid":"MZ1","mark":{}})", "mark.name");
  expect_rejected(p, R"({"event":"mark","streamSid":"MZ1","mark":{"name":""}})", "mark.name");
  expect_rejected(p, R"({"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track"}})", "dtmf.digit");
}

TEST(MessageParser, RejectsMessageOverTheSizeLimit) {
  MessageParser p(256);
  std::string text = R"({"event":"clear","streamSid":"MZ1","pad":")";
  const std::string tail = "\"}";
  text.append(256 - text.size() - tail.size(), 'x');
  text += tail;
  ASSERT_EQ(text.size(), 256u);
  EXPECT_NE(body_as<Clear>(p.parse(text)), nullptr) << "a message of exactly the limit is accepted";

  text.insert(text.size() - tail.size(), "x");  // 257 bytes
  expect_rejected(p, text, "257 bytes exceeds the limit of 256");
}

TEST(MessageParser, RejectsInvalidUtf8) {
  MessageParser p;
  expect_rejected(p, "{\"event\":\"mark\",\"mark\":{\"name\":\"\xff\xfe\"}}", "malformed JSON");
}

// --- writers round-trip through the parser ----------------------------------------------

TEST(MessageWriters, WriteMediaExactTextAndPayloadRoundTrip) {
  std::string out = "previous contents";
  const std::vector<std::uint8_t> three = {0xFF, 0x7F, 0x00};
  write_media(out, "MZ1", three);
  EXPECT_EQ(out, R"({"event":"media","streamSid":"MZ1","media":{"payload":"/38A"}})");

  const auto bytes = all_bytes();
  write_media(out, kStreamSid, bytes);
  MessageParser p;
  const Message m = p.parse(out);
  const auto* md = body_as<Media>(m);
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(m.event, "media");
  EXPECT_EQ(m.stream_sid, kStreamSid);
  EXPECT_EQ(m.sequence_number, -1);
  EXPECT_EQ(unbase64(md->payload), bytes);
  EXPECT_EQ(md->chunk, -1);
  EXPECT_EQ(md->timestamp_ms, -1);
}

TEST(MessageWriters, WriteMediaOfNothingHasAnEmptyPayload) {
  std::string out;
  write_media(out, "MZ1", {});
  MessageParser p;
  const Message m = p.parse(out);
  const auto* md = body_as<Media>(m);
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(md->payload, "");
}

TEST(MessageWriters, WriteMarkExactText) {
  std::string out = "xyz";
  write_mark(out, "MZ1", "utt-1");
  EXPECT_EQ(out, R"({"event":"mark","streamSid":"MZ1","mark":{"name":"utt-1"}})");
}

TEST(MessageWriters, WriteMarkEscapesAwkwardNames) {
  const std::string name = std::string("q\"uote b\\ack nl\n cr\r tab\t ctl\x01\x1f del\x7f utf8 \xc3\xa9 end");
  std::string out;
  write_mark(out, "MZ1", name);
  EXPECT_NE(out.find(R"(q\"uote b\\ack nl\n cr\r tab\t ctl\u0001\u001f)"), std::string::npos) << out;
  MessageParser p;
  const Message m = p.parse(out);
  const auto* mk = body_as<Mark>(m);
  ASSERT_NE(mk, nullptr);
  EXPECT_EQ(mk->name, name);
  EXPECT_EQ(m.stream_sid, "MZ1");
}

TEST(MessageWriters, AppendJsonStringEscapes) {
  std::string out = "x=";
  append_json_string(out, std::string("a\"b\\c\n\r\t\x00\x1f/", 11));
  EXPECT_EQ(out, R"(x="a\"b\\c\n\r\t\u0000\u001f/")");
  std::string empty;
  append_json_string(empty, "");
  EXPECT_EQ(empty, R"("")");
}

TEST(MessageWriters, WriteClearExactTextAndRoundTrip) {
  std::string out = "old";
  write_clear(out, kStreamSid);
  EXPECT_EQ(out, std::string(R"({"event":"clear","streamSid":")") + kStreamSid + "\"}");
  MessageParser p;
  const Message m = p.parse(out);
  EXPECT_NE(body_as<Clear>(m), nullptr);
  EXPECT_EQ(m.stream_sid, kStreamSid);
}

TEST(MessageWriters, WriteConnectedRoundTrip) {
  std::string out = "old";
  write_connected(out);
  MessageParser p;
  const Message m = p.parse(out);
  const auto* c = body_as<Connected>(m);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->protocol, "Call");
  EXPECT_EQ(c->version, "1.0.0");
  EXPECT_EQ(m.stream_sid, "");
}

TEST(MessageWriters, WriteStartRoundTrip) {
  Start s;
  s.stream_sid = kStreamSid;
  s.account_sid = kAccountSid;
  s.call_sid = kCallSid;
  s.tracks = {"inbound"};
  s.custom_parameters = {{"tenant", "acme"},
                         {"we\"ird\\name", "va\"lue\\ with \n newline"},
                         {"ctl", std::string("a\x02z")},
                         {"empty", ""}};
  s.encoding = "audio/x-mulaw";
  s.sample_rate = 8000;
  s.channels = 1;
  std::string out = "old";
  write_start(out, s, 1);

  MessageParser p;
  const Message m = p.parse(out);
  const auto* back = body_as<Start>(m);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(m.event, "start");
  EXPECT_EQ(m.stream_sid, kStreamSid);
  EXPECT_EQ(m.sequence_number, 1);
  EXPECT_EQ(back->stream_sid, s.stream_sid);
  EXPECT_EQ(back->account_sid, s.account_sid);
  EXPECT_EQ(back->call_sid, s.call_sid);
  EXPECT_EQ(back->tracks, s.tracks);
  EXPECT_EQ(back->custom_parameters, s.custom_parameters);
  EXPECT_EQ(back->encoding, s.encoding);
  EXPECT_EQ(back->sample_rate, s.sample_rate);
  EXPECT_EQ(back->channels, s.channels);
}

TEST(MessageWriters, WriteStartWithNoTracksOrParameters) {
  Start s;
  s.stream_sid = "MZ1";
  s.call_sid = "CA1";
  std::string out;
  write_start(out, s, 9);
  MessageParser p;
  const Message m = p.parse(out);
  const auto* back = body_as<Start>(m);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(m.sequence_number, 9);
  EXPECT_TRUE(back->tracks.empty());
  EXPECT_TRUE(back->custom_parameters.empty());
}

TEST(MessageWriters, WriteInboundMediaRoundTrip) {
  const auto bytes = all_bytes();
  std::string out = "old";
  write_inbound_media(out, kStreamSid, 42, 41, 800, bytes);
  MessageParser p;
  const Message m = p.parse(out);
  const auto* md = body_as<Media>(m);
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(m.event, "media");
  EXPECT_EQ(m.stream_sid, kStreamSid);
  EXPECT_EQ(m.sequence_number, 42);
  EXPECT_EQ(md->track, "inbound");
  EXPECT_EQ(md->chunk, 41);
  EXPECT_EQ(md->timestamp_ms, 800);
  EXPECT_EQ(unbase64(md->payload), bytes);
  // Numbers go out as strings, as Twilio sends them.
  EXPECT_NE(out.find(R"("sequenceNumber":"42")"), std::string::npos);
  EXPECT_NE(out.find(R"("chunk":"41")"), std::string::npos);
  EXPECT_NE(out.find(R"("timestamp":"800")"), std::string::npos);
}

TEST(MessageWriters, WriteMarkEchoRoundTrip) {
  const std::string name = "echo \"it\"\\ back\x03";
  std::string out;
  write_mark_echo(out, "MZ1", 120, name);
  MessageParser p;
  const Message m = p.parse(out);
  const auto* mk = body_as<Mark>(m);
  ASSERT_NE(mk, nullptr);
  EXPECT_EQ(mk->name, name);
  EXPECT_EQ(m.stream_sid, "MZ1");
  EXPECT_EQ(m.sequence_number, 120);
}

TEST(MessageWriters, WriteDtmfRoundTrip) {
  for (const char* digit : {"0", "9", "*", "#"}) {
    std::string out;
    write_dtmf(out, "MZ1", 57, digit);
    MessageParser p;
    const Message m = p.parse(out);
    const auto* d = body_as<Dtmf>(m);
    ASSERT_NE(d, nullptr) << digit;
    EXPECT_EQ(d->digit, digit);
    EXPECT_EQ(d->track, "inbound_track");
    EXPECT_EQ(m.stream_sid, "MZ1");
    EXPECT_EQ(m.sequence_number, 57);
  }
}

TEST(MessageWriters, WriteStopRoundTrip) {
  std::string out = "old";
  write_stop(out, kStreamSid, 5000, kAccountSid, kCallSid);
  MessageParser p;
  const Message m = p.parse(out);
  const auto* s = body_as<Stop>(m);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(m.event, "stop");
  EXPECT_EQ(m.stream_sid, kStreamSid);
  EXPECT_EQ(m.sequence_number, 5000);
  EXPECT_EQ(s->account_sid, kAccountSid);
  EXPECT_EQ(s->call_sid, kCallSid);
}

TEST(PlausibleSid, AcceptsTwilioShapedIdsOnly) {
  EXPECT_TRUE(plausible_sid(kStreamSid));
  EXPECT_TRUE(plausible_sid("a"));
  EXPECT_TRUE(plausible_sid("sim_call-1"));
  EXPECT_TRUE(plausible_sid(std::string(64, 'A')));
  EXPECT_FALSE(plausible_sid(std::string(65, 'A')));
  EXPECT_FALSE(plausible_sid(""));
  EXPECT_FALSE(plausible_sid("MZ\"1"));
  EXPECT_FALSE(plausible_sid("MZ 1"));
  EXPECT_FALSE(plausible_sid("MZ/1"));
  EXPECT_FALSE(plausible_sid("MZ\xc3\xa9"));
}

}  // namespace
}  // namespace vox::twilio

namespace vox::twilio {
namespace {

TEST(MessageParser, NumbersOutsideTheirRangeReadAsAbsentAndAreNamed) {
  MessageParser p;
  for (const char* ts : {"\"2305843009213693951\"", "\"9223372036854775807\"", "\"-9223372036854775808\"", "\"-1\"",
                         "\"86400001\"", "18446744073709551615", "-5"}) {
    const Message m = p.parse(std::string(R"({"event":"media","sequenceNumber":"3","media":{"timestamp":)") + ts +
                              R"(,"payload":"/w=="},"streamSid":"MZ2"})");
    const auto* md = std::get_if<Media>(&m.body);
    ASSERT_NE(md, nullptr) << ts;
    EXPECT_EQ(md->timestamp_ms, -1) << ts;
    EXPECT_EQ(m.bad_field, "media.timestamp") << ts;
    EXPECT_EQ(m.sequence_number, 3);
  }
  const Message edge = p.parse(R"({"event":"media","media":{"timestamp":"86400000","payload":"/w=="}})");
  EXPECT_EQ(std::get<Media>(edge.body).timestamp_ms, kMaxMediaTimestampMs);
  EXPECT_TRUE(edge.bad_field.empty());
  for (const char* seq : {"\"9223372036854775807\"", "\"-2\"", "9007199254740993"}) {
    const Message m = p.parse(std::string(R"({"event":"mark","sequenceNumber":)") + seq + R"(,"mark":{"name":"a"}})");
    EXPECT_EQ(m.sequence_number, -1) << seq;
    EXPECT_EQ(m.bad_field, "sequenceNumber") << seq;
  }
  // Absent is not bad.
  const Message plain = p.parse(R"({"event":"media","media":{"payload":"/w=="}})");
  EXPECT_TRUE(plain.bad_field.empty());
}

TEST(MessageParser, DtmfDigitsAreOneKeyOfTwiliosAlphabet) {
  MessageParser p;
  for (const char* ok : {"0", "9", "*", "#", "A", "D"}) {
    const Message m = p.parse(std::string(R"({"event":"dtmf","dtmf":{"track":"inbound_track","digit":")") + ok + "\"}}");
    EXPECT_NE(std::get_if<Dtmf>(&m.body), nullptr) << ok;
  }
  for (const std::string& bad : {std::string("12"), std::string("E"), std::string("a"), std::string("1\\n critical"),
                                std::string("\\u0000"), std::string(1000, '7')}) {
    const Message m = p.parse(R"({"event":"dtmf","dtmf":{"track":"inbound_track","digit":")" + bad + "\"}}");
    const auto* e = std::get_if<ParseError>(&m.body);
    ASSERT_NE(e, nullptr) << bad;
    EXPECT_NE(e->reason.find("dtmf.digit"), std::string::npos) << e->reason;
    EXPECT_EQ(e->reason.find(bad), std::string::npos) << "the digit is echoed: " << e->reason;
  }
}

TEST(CallSid, OnlyTwiliosShapeIsATwilioCallSid) {
  EXPECT_TRUE(twilio_call_sid("CA0123456789abcdef0123456789abcdef"));
  EXPECT_TRUE(twilio_call_sid("CA0123456789ABCDEF0123456789ABCDEF"));
  for (const char* bad : {"", "CA", "CA1234567890abcdef", "ca0123456789abcdef0123456789abcdef",
                          "CA0123456789abcdef0123456789abcdeg", "CA0123456789abcdef0123456789abcdef0", "../../etc/passwd"})
    EXPECT_FALSE(twilio_call_sid(bad)) << bad;
}

// Found by the fuzzer (fuzz/regressions/media_stream): every message whose tree outgrew
// the parser's arena doubled the next block the arena's resource would take, and never
// shrank back, so a few dozen such messages (well under the size limit each) asked for
// terabytes. Each message now starts from a fresh resource.
TEST(MessageParserArena, ManyMessagesLargerThanTheArenaDoNotGrowItsNextBlock) {
  MessageParser parser(64 * 1024);
  std::string wide = R"({"event":"mark","streamSid":"MZ1","mark":{"name":"m"},"pad":{)";
  for (int i = 0; i < 400; ++i) wide += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":[1]";
  wide += "}}";
  ASSERT_LT(wide.size(), 64u * 1024);
  for (int i = 0; i < 64; ++i) {
    Message m;
    ASSERT_NO_THROW(m = parser.parse(wide)) << "message " << i;
    ASSERT_EQ(m.event, "mark") << "message " << i;
  }
}

}  // namespace
}  // namespace vox::twilio
