// The control API's JSON codec: request bodies, voice settings and their ranges, texts
// to speak, and CallSids. Errors are ApiError 400 with a detail that says what to fix.
#include "api/control_codec.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

namespace vox::api {
namespace {
namespace json = boost::json;

// The ApiError `f` throws; a failure (and status 0) when it throws none.
template <typename F>
ApiError api_error_of(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError thrown";
  return ApiError(0, "");
}

bool mentions(const ApiError& e, const std::string& text) { return std::string(e.what()).find(text) != std::string::npos; }

SettingsPatch settings(const char* text) { return parse_settings(json::parse(text)); }

// ---- parse_object / string_field ----------------------------------------------------

TEST(ControlCodec, ParseObjectRefusesEmptyBodies) {
  for (const char* body : {"", " ", " \r\n\t"}) {
    const auto e = api_error_of([&] { parse_object(body); });
    EXPECT_EQ(e.status, 400) << '"' << body << '"';
    EXPECT_TRUE(mentions(e, "empty")) << e.what();
  }
}

TEST(ControlCodec, ParseObjectRefusesMalformedJson) {
  for (const char* body : {"{", "{\"a\":}", "not json", "{\"a\":1}}", "{'a':1}"}) {
    const auto e = api_error_of([&] { parse_object(body); });
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_TRUE(mentions(e, "Malformed JSON")) << body << ": " << e.what();
  }
}

TEST(ControlCodec, ParseObjectRefusesOtherJsonValues) {
  for (const char* body : {"[1,2]", "[]", "\"text\"", "42", "null", "true"}) {
    const auto e = api_error_of([&] { parse_object(body); });
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_TRUE(mentions(e, "must be a JSON object")) << body << ": " << e.what();
  }
}

TEST(ControlCodec, ParseObjectReturnsTheObject) {
  const auto o = parse_object(" {\"a\": 1, \"b\": {\"c\": \"d\"}} \n");
  EXPECT_EQ(o.size(), 2u);
  EXPECT_EQ(o.at("a").as_int64(), 1);
  EXPECT_EQ(o.at("b").at("c").as_string(), "d");
  EXPECT_TRUE(parse_object("{}").empty());
}

TEST(ControlCodec, StringFieldReadsStringsAndTreatsNullAsAbsent) {
  const auto o = parse_object(R"({"s": "value", "empty": "", "n": null, "i": 3, "o": {}, "b": false})");
  EXPECT_EQ(string_field(o, "s"), "value");
  EXPECT_EQ(string_field(o, "empty"), "");
  EXPECT_EQ(string_field(o, "n"), "");
  EXPECT_EQ(string_field(o, "missing"), "");
  for (const char* key : {"i", "o", "b"}) {
    const auto e = api_error_of([&] { string_field(o, key); });
    EXPECT_EQ(e.status, 400) << key;
    EXPECT_TRUE(mentions(e, "Field '" + std::string(key) + "' must be a string")) << e.what();
  }
}

// ---- voice settings -----------------------------------------------------------------

TEST(ControlCodec, UnitSettingsAcceptZeroToOne) {
  for (const char* key : {"stability", "similarity_boost", "style"}) {
    for (const char* value : {"0", "0.0", "0.5", "1", "1.0"}) {
      const std::string body = std::string("{\"") + key + "\": " + value + "}";
      EXPECT_NO_THROW(settings(body.c_str())) << body;
    }
  }
  const auto p = settings(R"({"stability": 0, "similarity_boost": 1, "style": 0.25})");
  ASSERT_TRUE(p.stability && p.similarity_boost && p.style);
  EXPECT_DOUBLE_EQ(*p.stability, 0.0);
  EXPECT_DOUBLE_EQ(*p.similarity_boost, 1.0);
  EXPECT_DOUBLE_EQ(*p.style, 0.25);
  EXPECT_FALSE(p.speed);
  EXPECT_FALSE(p.use_speaker_boost);
}

TEST(ControlCodec, UnitSettingsRefuseValuesOutsideZeroToOne) {
  for (const char* key : {"stability", "similarity_boost", "style"}) {
    for (const char* value : {"-0.1", "1.01", "2", "-1", "1e9"}) {
      const std::string body = std::string("{\"") + key + "\": " + value + "}";
      const auto e = api_error_of([&] { settings(body.c_str()); });
      EXPECT_EQ(e.status, 400) << body;
      EXPECT_TRUE(mentions(e, std::string("voice_settings.") + key)) << body << ": " << e.what();
      EXPECT_TRUE(mentions(e, "between 0.0 and 1.0")) << body << ": " << e.what();
    }
  }
}

TEST(ControlCodec, SpeedRangesFromPointSevenToOnePointTwo) {
  for (const char* value : {"0.7", "1", "1.2"}) {
    const std::string body = std::string("{\"speed\": ") + value + "}";
    EXPECT_NO_THROW(settings(body.c_str())) << body;
  }
  EXPECT_DOUBLE_EQ(*settings(R"({"speed": 1.2})").speed, 1.2);
  for (const char* value : {"0.69", "0.5", "1.21", "0", "2"}) {
    const std::string body = std::string("{\"speed\": ") + value + "}";
    const auto e = api_error_of([&] { settings(body.c_str()); });
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_TRUE(mentions(e, "voice_settings.speed")) << e.what();
    EXPECT_TRUE(mentions(e, "between 0.7 and 1.2")) << e.what();
  }
}

TEST(ControlCodec, SettingsThatAreNotNumbersFail) {
  for (const char* body : {R"({"stability": "0.5"})", R"({"similarity_boost": true})", R"({"style": [0.1]})",
                           R"({"speed": {}})"}) {
    const auto e = api_error_of([&] { settings(body); });
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_TRUE(mentions(e, "must be a number")) << body << ": " << e.what();
  }
}

TEST(ControlCodec, UseSpeakerBoostMustBeABoolean) {
  const auto on = settings(R"({"use_speaker_boost": true})").use_speaker_boost;
  ASSERT_TRUE(on.has_value());
  EXPECT_TRUE(*on);
  const auto off = settings(R"({"use_speaker_boost": false})").use_speaker_boost;
  ASSERT_TRUE(off.has_value());
  EXPECT_FALSE(*off);
  for (const char* body : {R"({"use_speaker_boost": 1})", R"({"use_speaker_boost": "true"})",
                           R"({"use_speaker_boost": 0})"}) {
    const auto e = api_error_of([&] { settings(body); });
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_TRUE(mentions(e, "use_speaker_boost")) << e.what();
  }
}

TEST(ControlCodec, NullSettingsAreAbsentAndSettingsMustBeAnObject) {
  const auto p = settings(R"({"stability": null, "speed": null, "use_speaker_boost": null, "unknown": 7})");
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(settings("{}").empty());
  for (const char* body : {"[0.5]", "0.5", "\"x\"", "null"}) {
    const auto e = api_error_of([&] { settings(body); });
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_TRUE(mentions(e, "voice_settings must be an object")) << e.what();
  }
}

TEST(ControlCodec, ApplyChangesOnlyTheGivenFields) {
  speech::VoiceSettings base;
  base.stability = 0.1;
  base.similarity_boost = 0.2;
  base.style = 0.3;
  base.use_speaker_boost = false;
  base.speed = 0.8;

  const auto p = settings(R"({"similarity_boost": 0.95, "use_speaker_boost": true})");
  EXPECT_FALSE(p.empty());
  const auto s = p.apply(base);
  EXPECT_DOUBLE_EQ(s.stability, 0.1);
  EXPECT_DOUBLE_EQ(s.similarity_boost, 0.95);
  EXPECT_DOUBLE_EQ(s.style, 0.3);
  EXPECT_TRUE(s.use_speaker_boost);
  EXPECT_DOUBLE_EQ(s.speed, 0.8);

  const auto unchanged = SettingsPatch{}.apply(base);
  EXPECT_DOUBLE_EQ(unchanged.stability, 0.1);
  EXPECT_DOUBLE_EQ(unchanged.similarity_boost, 0.2);
  EXPECT_DOUBLE_EQ(unchanged.style, 0.3);
  EXPECT_FALSE(unchanged.use_speaker_boost);
  EXPECT_DOUBLE_EQ(unchanged.speed, 0.8);

  const auto all = settings(R"({"stability": 0.9, "similarity_boost": 0.4, "style": 0.6, "speed": 1.1,
                                "use_speaker_boost": true})")
                       .apply(base);
  EXPECT_DOUBLE_EQ(all.stability, 0.9);
  EXPECT_DOUBLE_EQ(all.similarity_boost, 0.4);
  EXPECT_DOUBLE_EQ(all.style, 0.6);
  EXPECT_DOUBLE_EQ(all.speed, 1.1);
  EXPECT_TRUE(all.use_speaker_boost);

  // On the defaults (what a new call starts with).
  const auto d = settings(R"({"stability": 0.8})").apply({});
  const speech::VoiceSettings defaults;
  EXPECT_DOUBLE_EQ(d.stability, 0.8);
  EXPECT_DOUBLE_EQ(d.similarity_boost, defaults.similarity_boost);
  EXPECT_DOUBLE_EQ(d.style, defaults.style);
  EXPECT_EQ(d.use_speaker_boost, defaults.use_speaker_boost);
  EXPECT_DOUBLE_EQ(d.speed, defaults.speed);
}

TEST(ControlCodec, SettingsFieldIsOptional) {
  const auto o = parse_object(R"({"a": {"stability": 0.3}, "n": null})");
  const auto a = settings_field(o, "a");
  ASSERT_TRUE(a);
  EXPECT_DOUBLE_EQ(*a->stability, 0.3);
  EXPECT_FALSE(settings_field(o, "n"));
  EXPECT_FALSE(settings_field(o, "missing"));
  EXPECT_EQ(api_error_of([] { settings_field(parse_object(R"({"v": 3})"), "v"); }).status, 400);
}

TEST(ControlCodec, SettingsTextRoundTrips) {
  speech::VoiceSettings s;
  s.stability = 0.3;
  s.similarity_boost = 0.6;
  s.style = 0.2;
  s.use_speaker_boost = false;
  s.speed = 1.1;
  const std::string text = settings_text(s);
  const auto back = settings_from_text(text);
  EXPECT_DOUBLE_EQ(back.stability, 0.3);
  EXPECT_DOUBLE_EQ(back.similarity_boost, 0.6);
  EXPECT_DOUBLE_EQ(back.style, 0.2);
  EXPECT_FALSE(back.use_speaker_boost);
  EXPECT_DOUBLE_EQ(back.speed, 1.1);

  const auto o = json::parse(text).as_object();
  for (const char* key : {"stability", "similarity_boost", "style", "use_speaker_boost", "speed"})
    EXPECT_TRUE(o.contains(key)) << key << " missing from " << text;
  EXPECT_EQ(json::value(settings_json(s)), json::parse(text));
}

TEST(ControlCodec, SettingsFromTextFallsBackToDefaults) {
  const speech::VoiceSettings defaults;
  for (const char* text : {"", "garbage", "[1]", R"({"stability": 5})", R"({"stability": "x"})"}) {
    const auto s = settings_from_text(text);
    EXPECT_DOUBLE_EQ(s.stability, defaults.stability) << text;
    EXPECT_DOUBLE_EQ(s.similarity_boost, defaults.similarity_boost) << text;
    EXPECT_DOUBLE_EQ(s.style, defaults.style) << text;
    EXPECT_EQ(s.use_speaker_boost, defaults.use_speaker_boost) << text;
    EXPECT_DOUBLE_EQ(s.speed, defaults.speed) << text;
  }
  const auto partial = settings_from_text(R"({"stability": 0.2})");
  EXPECT_DOUBLE_EQ(partial.stability, 0.2);
  EXPECT_DOUBLE_EQ(partial.similarity_boost, defaults.similarity_boost);
}

// ---- texts ----------------------------------------------------------------------------

TEST(ControlCodec, CheckTextRefusesEmptyAndBlankTexts) {
  for (const char* text : {"", " ", "\t\r\n "}) {
    const auto e = api_error_of([&] { check_text(text, 100); });
    EXPECT_EQ(e.status, 400) << '"' << text << '"';
    EXPECT_TRUE(mentions(e, "must not be empty")) << e.what();
  }
}

TEST(ControlCodec, CheckTextCountsCharactersNotBytes) {
  EXPECT_NO_THROW(check_text("hello", 5));
  EXPECT_NO_THROW(check_text("h\xC3\xA9llo", 5));        // "héllo": 6 bytes, 5 characters
  EXPECT_NO_THROW(check_text("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 3));  // "日本語": 9 bytes
  EXPECT_NO_THROW(check_text("\xF0\x9F\x98\x80", 1));    // an emoji: 4 bytes
  const auto e = api_error_of([] { check_text("hello!", 5); });
  EXPECT_EQ(e.status, 400);
  EXPECT_TRUE(mentions(e, "6 characters")) << e.what();
  EXPECT_TRUE(mentions(e, "limit is 5")) << e.what();
  const auto wide = api_error_of([] { check_text("h\xC3\xA9llo!", 5); });
  EXPECT_EQ(wide.status, 400);
  EXPECT_TRUE(mentions(wide, "6 characters")) << wide.what();
  EXPECT_NO_THROW(check_text(std::string(5000, 'a'), 5000));
  EXPECT_EQ(api_error_of([] { check_text(std::string(5001, 'a'), 5000); }).status, 400);
}

TEST(ControlCodec, CheckTextRefusesInvalidUtf8) {
  for (const std::string& text : {std::string("\xFF"), std::string("abc\xC3"), std::string("\xE6\x97"),
                                 std::string("\xC3\x28"), std::string("ok \x80 no"), std::string("\xF0\x9F\x98")}) {
    const auto e = api_error_of([&] { check_text(text, 100); });
    EXPECT_EQ(e.status, 400);
    EXPECT_TRUE(mentions(e, "not valid UTF-8")) << e.what();
  }
}

TEST(ControlCodec, Utf8LengthCountsCodePoints) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("h\xC3\xA9llo"), 5u);
  EXPECT_EQ(utf8_length("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"), 3u);
  EXPECT_EQ(utf8_length("\xF0\x9F\x98\x80" "a"), 2u);
  EXPECT_EQ(utf8_length("Hello! How can I help you today?"), 32u);
}

// ---- request bodies -------------------------------------------------------------------

TEST(ControlCodec, CreateCallRequiresToNumber) {
  for (const char* body : {"{}", R"({"to_number": ""})", R"({"to_number": null, "from_number": "+15005550006"})"}) {
    const auto e = api_error_of([&] { parse_create_call(body); });
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_TRUE(mentions(e, "to_number")) << e.what();
  }
  EXPECT_EQ(api_error_of([] { parse_create_call(R"({"to_number": 14155550123})"); }).status, 400);
  EXPECT_EQ(api_error_of([] { parse_create_call("[]"); }).status, 400);
}

TEST(ControlCodec, CreateCallReadsTheDocumentedBody) {
  const auto r = parse_create_call(R"({
    "to_number": "+1234567890",
    "from_number": "+0987654321",
    "webhook_url": "https://your-webhook.com/events",
    "voice_id": "IKne3meq5aSn9XLyUdCD",
    "voice_settings": {"stability": 0.7, "similarity_boost": 0.8, "style": 0.1, "use_speaker_boost": true},
    "metadata": {"customer_id": "12345", "call_type": "support"}
  })");
  EXPECT_EQ(r.to_number, "+1234567890");
  EXPECT_EQ(r.from_number, "+0987654321");  // E.164 is checked by the route, not here
  EXPECT_EQ(r.webhook_url, "https://your-webhook.com/events");
  EXPECT_EQ(r.voice_id, "IKne3meq5aSn9XLyUdCD");
  ASSERT_TRUE(r.voice_settings);
  EXPECT_DOUBLE_EQ(*r.voice_settings->stability, 0.7);
  EXPECT_DOUBLE_EQ(*r.voice_settings->similarity_boost, 0.8);
  EXPECT_DOUBLE_EQ(*r.voice_settings->style, 0.1);
  ASSERT_TRUE(r.voice_settings->use_speaker_boost.has_value());
  EXPECT_TRUE(*r.voice_settings->use_speaker_boost);
  EXPECT_FALSE(r.voice_settings->speed);
  EXPECT_EQ(r.agent_id, "");
  EXPECT_EQ(json::parse(r.metadata_json), json::parse(R"({"customer_id": "12345", "call_type": "support"})"));
}

TEST(ControlCodec, CreateCallTakesTheAgentFromMetadata) {
  const auto r = parse_create_call(R"({"to_number": "+14155550123", "metadata": {"agent_id": "agent456", "n": [1, 2]}})");
  EXPECT_EQ(r.agent_id, "agent456");
  EXPECT_EQ(json::parse(r.metadata_json), json::parse(R"({"agent_id": "agent456", "n": [1, 2]})"));
  EXPECT_FALSE(r.voice_settings);

  const auto not_string = parse_create_call(R"({"to_number": "+14155550123", "metadata": {"agent_id": 7}})");
  EXPECT_EQ(not_string.agent_id, "");
  const auto none = parse_create_call(R"({"to_number": "+14155550123"})");
  EXPECT_EQ(none.metadata_json, "");
  EXPECT_EQ(none.agent_id, "");
  const auto null_metadata = parse_create_call(R"({"to_number": "+14155550123", "metadata": null})");
  EXPECT_EQ(null_metadata.metadata_json, "");

  const auto e = api_error_of([] { parse_create_call(R"({"to_number": "+14155550123", "metadata": "x"})"); });
  EXPECT_EQ(e.status, 400);
  EXPECT_TRUE(mentions(e, "metadata")) << e.what();
  const auto bad_settings = api_error_of(
      [] { parse_create_call(R"({"to_number": "+14155550123", "voice_settings": {"stability": 1.5}})"); });
  EXPECT_EQ(bad_settings.status, 400);
  EXPECT_TRUE(mentions(bad_settings, "voice_settings.stability")) << bad_settings.what();
}

TEST(ControlCodec, IncomingCallRequiresCallSid) {
  for (const char* body : {"{}", R"({"call_sid": ""})", R"({"from_number": "+1234567890"})"}) {
    const auto e = api_error_of([&] { parse_incoming_call(body); });
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_TRUE(mentions(e, "call_sid")) << e.what();
  }
  // Relaxed (a test setting): any 1..64 of [A-Za-z0-9_-].
  const auto too_long =
      api_error_of([] { parse_incoming_call("{\"call_sid\": \"CA" + std::string(63, '0') + "\"}", true); });
  EXPECT_EQ(too_long.status, 400);
  EXPECT_TRUE(mentions(too_long, "1 to 64")) << too_long.what();
  EXPECT_NO_THROW(parse_incoming_call("{\"call_sid\": \"CA" + std::string(62, '0') + "\"}", true));  // 64 characters
}

TEST(ControlCodec, IncomingCallSidMustHaveTwiliosShape) {
  for (const std::string sid : {"CA1234567890abcdef", "../../etc/passwd", "CA0123456789abcdef0123456789abcdeg",
                                "CA0123456789abcdef0123456789abcdef0", "XX0123456789abcdef0123456789abcdef"}) {
    const auto e = api_error_of([&] { parse_incoming_call(R"({"call_sid": ")" + sid + R"("})"); });
    EXPECT_EQ(e.status, 400) << sid;
    EXPECT_TRUE(mentions(e, "CA followed by 32 hexadecimal digits")) << e.what();
    EXPECT_TRUE(mentions(e, "--relaxed-call-sids")) << e.what();
  }
  EXPECT_NO_THROW(parse_incoming_call(R"({"call_sid": "CA0123456789abcdef0123456789ABCDEF"})"));
  // Relaxed still refuses paths and control characters.
  for (const std::string body : {R"({"call_sid": "../../etc/passwd"})", R"({"call_sid": "CA1\u0000x"})"})
    EXPECT_EQ(api_error_of([&] { parse_incoming_call(body, true); }).status, 400) << body;
}

TEST(ControlCodec, IncomingCallReadsTheDocumentedBody) {
  // The old service's documented sid is not Twilio's shape: read with relaxed sids.
  const auto r = parse_incoming_call(R"({
    "call_sid": "CA1234567890abcdef",
    "from_number": "+1234567890",
    "to_number": "+0987654321",
    "company_api_key": "your-company-key",
    "agent_id": "agent-123",
    "voice_id": "IKne3meq5aSn9XLyUdCD",
    "voice_settings": {"stability": 0.8, "similarity_boost": 0.9}
  })", true);
  EXPECT_EQ(r.call_sid, "CA1234567890abcdef");
  EXPECT_EQ(r.from_number, "+1234567890");
  EXPECT_EQ(r.to_number, "+0987654321");
  EXPECT_EQ(r.company_api_key, "your-company-key");
  EXPECT_EQ(r.agent_id, "agent-123");
  EXPECT_EQ(r.voice_id, "IKne3meq5aSn9XLyUdCD");
  ASSERT_TRUE(r.voice_settings);
  EXPECT_DOUBLE_EQ(*r.voice_settings->stability, 0.8);
  EXPECT_DOUBLE_EQ(*r.voice_settings->similarity_boost, 0.9);
  EXPECT_FALSE(r.voice_settings->style);
}

TEST(ControlCodec, IncomingCallLimitsTheAgentId) {
  const std::string sid = "CA0123456789abcdef0123456789abcdef";
  EXPECT_NO_THROW(parse_incoming_call("{\"call_sid\": \"" + sid + "\", \"agent_id\": \"" + std::string(128, 'a') + "\"}"));
  const auto e = api_error_of(
      [&] { parse_incoming_call("{\"call_sid\": \"" + sid + "\", \"agent_id\": \"" + std::string(129, 'a') + "\"}"); });
  EXPECT_EQ(e.status, 400);
  EXPECT_TRUE(mentions(e, "agent_id")) << e.what();
}

TEST(ControlCodec, SynthesizeChecksItsText) {
  const auto r = parse_synthesize(R"({"text": "Hello! How can I help you today?", "voice_id": "IKne3meq5aSn9XLyUdCD",
                                      "voice_settings": {"stability": 0.8}})",
                                  5000);
  EXPECT_EQ(r.text, "Hello! How can I help you today?");
  EXPECT_EQ(r.voice_id, "IKne3meq5aSn9XLyUdCD");
  ASSERT_TRUE(r.voice_settings);
  EXPECT_DOUBLE_EQ(*r.voice_settings->stability, 0.8);
  EXPECT_EQ(api_error_of([] { parse_synthesize("{}", 5000); }).status, 400);
  EXPECT_EQ(api_error_of([] { parse_synthesize(R"({"text": "too long"})", 3); }).status, 400);
}

TEST(ControlCodec, ClientMessagesThatAreNotTypedObjectsAreRefused) {
  EXPECT_EQ(api_error_of([] { parse_client_message("not json", 100); }).status, 400);
  EXPECT_EQ(api_error_of([] { parse_client_message("[1]", 100); }).status, 400);
  const auto untyped = api_error_of([] { parse_client_message(R"({"text":"hi"})", 100); });
  EXPECT_NE(std::string(untyped.what()).find("\"type\""), std::string::npos) << untyped.what();
  EXPECT_EQ(api_error_of([] { parse_client_message(R"({"type":7})", 100); }).status, 400);
}

TEST(ControlCodec, ClientMessagesParseIntoTheirFields) {
  EXPECT_EQ(parse_client_message(R"({"type":"ping"})", 100).type, ClientMessage::Type::kPing);
  const auto text = parse_client_message(R"({"type":"text","text":"hello"})", 100);
  EXPECT_EQ(text.type, ClientMessage::Type::kText);
  EXPECT_EQ(text.text, "hello");
  EXPECT_TRUE(text.field_error.empty());
  const auto voice = parse_client_message(
      R"({"type":"control","action":"update_voice","voice_id":"v1","voice_settings":{"stability":0.25}})", 100);
  EXPECT_EQ(voice.type, ClientMessage::Type::kControl);
  EXPECT_EQ(voice.action, "update_voice");
  EXPECT_EQ(voice.voice_id, "v1");
  ASSERT_TRUE(voice.voice_settings && voice.voice_settings->stability);
  EXPECT_DOUBLE_EQ(*voice.voice_settings->stability, 0.25);
  const auto stop = parse_client_message(R"({"type":"control","action":"stop_synthesis"})", 100);
  EXPECT_EQ(stop.action, "stop_synthesis");
  const auto other = parse_client_message(R"({"type":"dance"})", 100);
  EXPECT_EQ(other.type, ClientMessage::Type::kUnknown);
  EXPECT_EQ(other.type_name, "dance");
}

TEST(ControlCodec, ClientMessageFieldErrorsAreKeptForTheTypesOwnAnswer) {
  const auto not_string = parse_client_message(R"({"type":"text","text":5})", 100);
  EXPECT_EQ(not_string.type, ClientMessage::Type::kText);
  EXPECT_FALSE(not_string.field_error.empty());
  const auto too_long = parse_client_message(R"({"type":"text","text":"abcdef"})", 3);
  EXPECT_EQ(too_long.text, "abcdef");  // the answer quotes the start of what was refused
  EXPECT_FALSE(too_long.field_error.empty());
  const auto bad_voice =
      parse_client_message(R"({"type":"control","action":"update_voice","voice_settings":{"stability":7}})", 100);
  EXPECT_EQ(bad_voice.type, ClientMessage::Type::kControl);
  EXPECT_FALSE(bad_voice.field_error.empty());
}

}  // namespace
}  // namespace vox::api
