// ElevenLabs JSON codec (errors, REST bodies and answers, TTS WebSocket and realtime STT
// messages) against the shapes in shared/specs/elevenlabs_api.md §2-6, plus the
// sentence splitter of the TTS socket.
#include "elevenlabs/codec.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "elevenlabs/tts_socket.hpp"

namespace vox::elevenlabs {
namespace {
namespace json = boost::json;
using Kind = ApiError::Kind;

std::string b64(const std::vector<std::uint8_t>& bytes) {
  std::string out;
  base64::append(out, std::span<const std::uint8_t>(bytes));
  return out;
}

std::string bytes_str(const std::vector<std::uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

json::object obj(const std::string& text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v.is_object()) << text;
  return v.is_object() ? v.get_object() : json::object{};
}

std::set<std::string> keys(const json::object& o) {
  std::set<std::string> out;
  for (const auto& kv : o) out.insert(std::string(kv.key()));
  return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- errors (§3) -------------------------------------------------------------------

TEST(ElevenLabsCodec, InvalidApiKeyIsAuth) {
  const auto e = codec::parse_error(401, R"({"detail":{"status":"invalid_api_key","message":"Invalid API key"}})");
  EXPECT_EQ(e.kind, Kind::kAuth);
  EXPECT_EQ(e.status, 401);
  EXPECT_EQ(e.code, "invalid_api_key");
  EXPECT_TRUE(contains(e.what(), "Invalid API key")) << e.what();
  EXPECT_FALSE(e.retryable());
}

TEST(ElevenLabsCodec, QuotaExceededOn401IsQuota) {
  const auto e = codec::parse_error(
      401, R"({"detail":{"status":"quota_exceeded","message":"This request exceeds your quota of 10000."}})");
  EXPECT_EQ(e.kind, Kind::kQuota);
  EXPECT_EQ(e.code, "quota_exceeded");
  EXPECT_TRUE(contains(e.what(), "exceeds your quota")) << e.what();
  EXPECT_FALSE(e.retryable());
}

TEST(ElevenLabsCodec, TooManyRequestsIsRetryable) {
  const auto e = codec::parse_error(
      429, R"({"detail":{"status":"too_many_concurrent_requests","message":"Too many concurrent requests"}})");
  EXPECT_EQ(e.kind, Kind::kRateLimited);
  EXPECT_EQ(e.status, 429);
  EXPECT_EQ(e.code, "too_many_concurrent_requests");
  EXPECT_TRUE(e.retryable());

  const auto busy = codec::parse_error(429, R"({"detail":{"status":"system_busy","message":"busy"}})");
  EXPECT_EQ(busy.kind, Kind::kRateLimited);
  EXPECT_TRUE(busy.retryable());
}

TEST(ElevenLabsCodec, ServerErrorIsRetryable) {
  const auto e = codec::parse_error(500, R"({"detail":{"status":"internal_error","message":"Something went wrong"}})");
  EXPECT_EQ(e.kind, Kind::kServer);
  EXPECT_EQ(e.code, "internal_error");
  EXPECT_TRUE(e.retryable());
}

TEST(ElevenLabsCodec, ValidationListIsInvalidWithLocationAndMessage) {
  const auto e = codec::parse_error(
      422, R"({"detail":[{"loc":["body","text"],"msg":"field required","type":"value_error.missing"},)"
           R"({"loc":["query","output_format",0],"msg":"bad format","type":"value_error"}]})");
  EXPECT_EQ(e.kind, Kind::kInvalid);
  EXPECT_EQ(e.status, 422);
  EXPECT_FALSE(e.retryable());
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "body.text")) << what;
  EXPECT_TRUE(contains(what, "field required")) << what;
  EXPECT_TRUE(contains(what, "query.output_format.0")) << what;
  EXPECT_TRUE(contains(what, "bad format")) << what;
}

TEST(ElevenLabsCodec, PlainStringDetail) {
  const auto e = codec::parse_error(404, R"({"detail":"Voice not found"})");
  EXPECT_EQ(e.kind, Kind::kNotFound);
  EXPECT_TRUE(e.code.empty());
  EXPECT_TRUE(contains(e.what(), "Voice not found")) << e.what();
  EXPECT_FALSE(e.retryable());
}

TEST(ElevenLabsCodec, VoiceNotFoundCodeIsNotFoundWhateverTheStatus) {
  const auto e = codec::parse_error(400, R"({"detail":{"status":"voice_not_found","message":"no such voice"}})");
  EXPECT_EQ(e.kind, Kind::kNotFound);
  EXPECT_EQ(e.code, "voice_not_found");
}

TEST(ElevenLabsCodec, NonJsonErrorBody) {
  const auto e = codec::parse_error(502, "<html><body>Bad Gateway</body></html>");
  EXPECT_EQ(e.kind, Kind::kServer);
  EXPECT_EQ(e.status, 502);
  EXPECT_TRUE(e.code.empty());
  EXPECT_TRUE(contains(e.what(), "Bad Gateway")) << e.what();
  EXPECT_TRUE(e.retryable());

  const auto bad = codec::parse_error(400, "not json at all");
  EXPECT_EQ(bad.kind, Kind::kInvalid);
  EXPECT_TRUE(contains(bad.what(), "not json at all")) << bad.what();
  EXPECT_FALSE(bad.retryable());
}

// --- TTS WebSocket server messages (§4.2, §5) ---------------------------------------

TEST(ElevenLabsCodec, SocketAudioChunkWithAlignment) {
  const std::vector<std::uint8_t> audio{0xff, 0x7f, 0x00, 0x80, 0x12};
  const auto m = codec::parse_tts_socket_message(
      R"({"audio":")" + b64(audio) +
      R"(","isFinal":null,)"
      R"("normalizedAlignment":{"chars":["H","i"," "],"charStartTimesMs":[0,70,110],"charDurationsMs":[70,40,50]},)"
      R"("alignment":{"chars":["H","i"," "],"charStartTimesMs":[0,70,110],"charDurationsMs":[70,40,50]},)"
      R"("contextId":"turn-1"})");
  EXPECT_EQ(m.audio, bytes_str(audio));
  EXPECT_FALSE(m.is_final) << "isFinal null is not final";
  EXPECT_EQ(m.context_id, "turn-1");
  EXPECT_TRUE(m.error.empty()) << m.error;
  ASSERT_TRUE(m.alignment);
  EXPECT_EQ(m.alignment->chars, (std::vector<std::string>{"H", "i", " "}));
  EXPECT_EQ(m.alignment->start_ms, (std::vector<int>{0, 70, 110}));
  EXPECT_EQ(m.alignment->duration_ms, (std::vector<int>{70, 40, 50}));
  ASSERT_TRUE(m.normalized_alignment);
  EXPECT_EQ(m.normalized_alignment->duration_ms, (std::vector<int>{70, 40, 50}));
}

TEST(ElevenLabsCodec, SocketAlignmentAcceptsCharsDurationsMs) {
  const auto m = codec::parse_tts_socket_message(
      R"({"audio":")" + b64({1, 2, 3}) +
      R"(","alignment":{"chars":["o","k"],"charStartTimesMs":[5,25],"charsDurationsMs":[20,30]}})");
  ASSERT_TRUE(m.alignment);
  EXPECT_EQ(m.alignment->start_ms, (std::vector<int>{5, 25}));
  EXPECT_EQ(m.alignment->duration_ms, (std::vector<int>{20, 30}));
  EXPECT_FALSE(m.normalized_alignment);
}

TEST(ElevenLabsCodec, SocketNullAlignmentIsAbsent) {
  const auto m = codec::parse_tts_socket_message(R"({"audio":")" + b64({9}) + R"(","alignment":null})");
  EXPECT_EQ(m.audio, bytes_str({9}));
  EXPECT_FALSE(m.alignment);
  EXPECT_TRUE(m.error.empty());
}

TEST(ElevenLabsCodec, SocketFinalSpellings) {
  auto m = codec::parse_tts_socket_message(R"({"isFinal":true,"contextId":"turn-2"})");
  EXPECT_TRUE(m.is_final);
  EXPECT_TRUE(m.audio.empty());
  EXPECT_EQ(m.context_id, "turn-2");
  EXPECT_TRUE(m.error.empty());

  m = codec::parse_tts_socket_message(R"({"is_final":true,"context_id":"turn-3"})");
  EXPECT_TRUE(m.is_final);
  EXPECT_EQ(m.context_id, "turn-3");

  m = codec::parse_tts_socket_message(R"({"isFinal":true,"audio":null})");
  EXPECT_TRUE(m.is_final);
  EXPECT_TRUE(m.audio.empty());

  EXPECT_FALSE(codec::parse_tts_socket_message(R"({"isFinal":false})").is_final);
  EXPECT_FALSE(codec::parse_tts_socket_message(R"({"isFinal":null})").is_final);
  EXPECT_FALSE(codec::parse_tts_socket_message(R"({"isFinal":"true"})").is_final) << "only a JSON true is final";
  EXPECT_FALSE(codec::parse_tts_socket_message(R"({"audio":""})").is_final);
}

TEST(ElevenLabsCodec, SocketErrorObject) {
  const auto m = codec::parse_tts_socket_message(
      R"({"message":"Could not parse input message","error":"invalid_input_message","code":1008})");
  EXPECT_FALSE(m.error.empty());
  EXPECT_TRUE(contains(m.error, "Could not parse input message")) << m.error;
  EXPECT_TRUE(contains(m.error, "invalid_input_message")) << m.error;
  EXPECT_FALSE(m.is_final);

  EXPECT_FALSE(codec::parse_tts_socket_message(R"({"message":"Have not received a new text input"})").error.empty());
  EXPECT_FALSE(codec::parse_tts_socket_message(R"({"error":"quota_exceeded"})").error.empty());
}

TEST(ElevenLabsCodec, SocketRejectsInvalidInput) {
  EXPECT_THROW(codec::parse_tts_socket_message(R"({"audio":"@@@not base64@@@"})"), std::invalid_argument);
  EXPECT_THROW(codec::parse_tts_socket_message(R"({"audio":"QUJ"})"), std::invalid_argument);
  EXPECT_THROW(codec::parse_tts_socket_message("{not json"), std::invalid_argument);
  EXPECT_THROW(codec::parse_tts_socket_message("[1,2]"), std::invalid_argument);
}

// --- REST answers (§2) ------------------------------------------------------------

TEST(ElevenLabsCodec, TimedAudioSecondsBecomeMilliseconds) {
  const std::vector<std::uint8_t> audio{0x55, 0xd5, 0x7f};
  const auto t = codec::parse_timed_audio(
      R"({"audio_base64":")" + b64(audio) +
      R"(","alignment":{"characters":["H","i","!"],)"
      R"("character_start_times_seconds":[0.0,0.12,0.3],"character_end_times_seconds":[0.12,0.3,0.755]},)"
      R"("normalized_alignment":null})");
  EXPECT_EQ(t.audio, bytes_str(audio));
  ASSERT_TRUE(t.alignment);
  EXPECT_EQ(t.alignment->chars, (std::vector<std::string>{"H", "i", "!"}));
  EXPECT_EQ(t.alignment->start_ms, (std::vector<int>{0, 120, 300}));
  EXPECT_EQ(t.alignment->duration_ms, (std::vector<int>{120, 180, 455}));
}

TEST(ElevenLabsCodec, TimedAudioWithoutAlignment) {
  const auto t = codec::parse_timed_audio(R"({"audio_base64":")" + b64({1, 2}) + R"(","alignment":null})");
  EXPECT_EQ(t.audio, bytes_str({1, 2}));
  EXPECT_FALSE(t.alignment);
  EXPECT_THROW(codec::parse_timed_audio(R"({"audio_base64":"%%%%"})"), std::invalid_argument);
}

TEST(ElevenLabsCodec, VoicesV2Paging) {
  const auto p = codec::parse_voices_v2(
      R"({"voices":[{"voice_id":"v1","name":"Rachel","category":"premade","description":"calm",)"
      R"("labels":{"accent":"american","age":"young"},"settings":{"stability":0.3,"similarity_boost":0.9}},)"
      R"({"voice_id":"v2","name":"Adam","category":"cloned","labels":{},"settings":null}],)"
      R"("has_more":true,"total_count":42,"next_page_token":"page-2"})");
  ASSERT_EQ(p.voices.size(), 2u);
  EXPECT_EQ(p.voices[0].voice_id, "v1");
  EXPECT_EQ(p.voices[0].name, "Rachel");
  EXPECT_EQ(p.voices[0].category, "premade");
  EXPECT_EQ(p.voices[0].description, "calm");
  EXPECT_EQ(p.voices[0].labels.at("accent"), "american");
  ASSERT_TRUE(p.voices[0].settings);
  EXPECT_DOUBLE_EQ(p.voices[0].settings->stability, 0.3);
  EXPECT_DOUBLE_EQ(p.voices[0].settings->similarity_boost, 0.9);
  EXPECT_DOUBLE_EQ(p.voices[0].settings->speed, 1.0) << "absent fields keep their defaults";
  EXPECT_EQ(p.voices[1].voice_id, "v2");
  EXPECT_FALSE(p.voices[1].settings);
  EXPECT_TRUE(p.has_more);
  ASSERT_TRUE(p.total_count);
  EXPECT_EQ(*p.total_count, 42);
  EXPECT_EQ(p.next_page_token, "page-2");

  const auto last = codec::parse_voices_v2(R"({"voices":[],"has_more":false,"next_page_token":null})");
  EXPECT_TRUE(last.voices.empty());
  EXPECT_FALSE(last.has_more);
  EXPECT_FALSE(last.total_count);
  EXPECT_TRUE(last.next_page_token.empty());
}

TEST(ElevenLabsCodec, Models) {
  const auto models = codec::parse_models(
      R"([{"model_id":"eleven_flash_v2_5","name":"Eleven Flash v2.5","can_do_text_to_speech":true,)"
      R"("maximum_text_length_per_request":40000,)"
      R"("languages":[{"language_id":"en","name":"English"},{"language_id":"de","name":"German"}]},)"
      R"({"model_id":"eleven_english_sts_v2","name":"STS","can_do_text_to_speech":false}])");
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].model_id, "eleven_flash_v2_5");
  EXPECT_EQ(models[0].name, "Eleven Flash v2.5");
  EXPECT_TRUE(models[0].can_do_text_to_speech);
  EXPECT_EQ(models[0].max_characters, 40000);
  EXPECT_EQ(models[0].languages, (std::vector<std::string>{"en", "de"}));
  EXPECT_FALSE(models[1].can_do_text_to_speech);
  EXPECT_TRUE(models[1].languages.empty());
  EXPECT_THROW(codec::parse_models(R"({"models":[]})"), std::invalid_argument);
}

TEST(ElevenLabsCodec, TranscriptWords) {
  const auto t = codec::parse_transcript(
      R"({"language_code":"eng","language_probability":0.98,"text":"Hello there.","words":[)"
      R"({"text":"Hello","start":0.12,"end":0.41,"type":"word","speaker_id":"speaker_0","logprob":-0.02},)"
      R"({"text":" ","start":0.41,"end":0.45,"type":"spacing"},)"
      R"({"text":"there.","start":0.45,"end":0.8,"type":"word"},)"
      R"j({"text":"(laughter)","start":null,"end":null,"type":"audio_event"}]})j");
  EXPECT_EQ(t.text, "Hello there.");
  EXPECT_EQ(t.language_code, "eng");
  ASSERT_EQ(t.words.size(), 4u);
  EXPECT_EQ(t.words[0].text, "Hello");
  EXPECT_DOUBLE_EQ(t.words[0].start, 0.12);
  EXPECT_DOUBLE_EQ(t.words[0].end, 0.41);
  EXPECT_EQ(t.words[0].type, "word");
  EXPECT_EQ(t.words[1].type, "spacing");
  EXPECT_EQ(t.words[2].text, "there.");
  EXPECT_DOUBLE_EQ(t.words[2].end, 0.8);
  EXPECT_EQ(t.words[3].type, "audio_event");
  EXPECT_DOUBLE_EQ(t.words[3].start, 0.0);
}

// --- REST request body (§2.4) -----------------------------------------------------

TEST(ElevenLabsCodec, TtsBodyHasOnlySetFields) {
  TtsOptions opt;
  opt.voice_id = "voice-in-path";
  opt.output_format = "ulaw_8000";  // a query parameter, never in the body
  opt.optimize_streaming_latency = 3;
  const auto minimal = obj(codec::tts_body("Hi there.", opt));
  EXPECT_EQ(keys(minimal), (std::set<std::string>{"text"}));
  EXPECT_EQ(minimal.at("text").as_string(), "Hi there.");

  opt.model_id = "eleven_flash_v2_5";
  elevenlabs::VoiceSettings vs;
  vs.stability = 0.3;
  vs.similarity_boost = 0.8;
  vs.style = 0.1;
  vs.use_speaker_boost = false;
  vs.speed = 1.1;
  opt.voice_settings = vs;
  const auto with_settings = obj(codec::tts_body("Hi \"quoted\" there.", opt));
  EXPECT_EQ(keys(with_settings), (std::set<std::string>{"text", "model_id", "voice_settings"}));
  EXPECT_EQ(with_settings.at("text").as_string(), "Hi \"quoted\" there.");
  EXPECT_EQ(with_settings.at("model_id").as_string(), "eleven_flash_v2_5");
  const auto& s = with_settings.at("voice_settings").as_object();
  EXPECT_DOUBLE_EQ(s.at("stability").to_number<double>(), 0.3);
  EXPECT_DOUBLE_EQ(s.at("similarity_boost").to_number<double>(), 0.8);
  EXPECT_DOUBLE_EQ(s.at("style").to_number<double>(), 0.1);
  EXPECT_EQ(s.at("use_speaker_boost").as_bool(), false);
  EXPECT_DOUBLE_EQ(s.at("speed").to_number<double>(), 1.1);

  opt.language_code = "de";
  opt.previous_text = "Before.";
  opt.next_text = "After.";
  opt.seed = 4294967295L;
  const auto full = obj(codec::tts_body("Mitte.", opt));
  EXPECT_EQ(keys(full), (std::set<std::string>{"text", "model_id", "voice_settings", "language_code",
                                                "previous_text", "next_text", "seed"}));
  EXPECT_EQ(full.at("language_code").as_string(), "de");
  EXPECT_EQ(full.at("previous_text").as_string(), "Before.");
  EXPECT_EQ(full.at("next_text").as_string(), "After.");
  EXPECT_EQ(full.at("seed").to_number<std::int64_t>(), 4294967295LL);
}

// --- TTS WebSocket client messages (§5) ---------------------------------------------

TEST(ElevenLabsCodec, SocketInitMessage) {
  elevenlabs::VoiceSettings vs;
  vs.stability = 0.4;
  vs.similarity_boost = 0.8;
  const auto o = obj(codec::tts_socket_init("turn-1", vs, {50, 90, 120, 150}));
  EXPECT_EQ(keys(o), (std::set<std::string>{"text", "context_id", "voice_settings", "generation_config"}));
  EXPECT_EQ(o.at("text").as_string(), " ") << "the init text must be a single space";
  EXPECT_EQ(o.at("context_id").as_string(), "turn-1");
  EXPECT_DOUBLE_EQ(o.at("voice_settings").as_object().at("stability").to_number<double>(), 0.4);
  EXPECT_DOUBLE_EQ(o.at("voice_settings").as_object().at("similarity_boost").to_number<double>(), 0.8);
  const auto& sched = o.at("generation_config").as_object().at("chunk_length_schedule").as_array();
  ASSERT_EQ(sched.size(), 4u);
  EXPECT_EQ(sched[0].to_number<int>(), 50);
  EXPECT_EQ(sched[3].to_number<int>(), 150);

  const auto bare = obj(codec::tts_socket_init("turn-2", std::nullopt, {}));
  EXPECT_EQ(keys(bare), (std::set<std::string>{"text", "context_id"}));
  EXPECT_EQ(bare.at("text").as_string(), " ");
  EXPECT_EQ(bare.at("context_id").as_string(), "turn-2");
}

TEST(ElevenLabsCodec, SocketTextMessage) {
  const auto plain = obj(codec::tts_socket_text("turn-1", "More words. ", false));
  EXPECT_EQ(keys(plain), (std::set<std::string>{"text", "context_id"}));
  EXPECT_EQ(plain.at("text").as_string(), "More words. ");
  EXPECT_EQ(plain.at("context_id").as_string(), "turn-1");

  const auto flush = obj(codec::tts_socket_text("turn-1", "Line \"two\"\n", true));
  EXPECT_EQ(keys(flush), (std::set<std::string>{"text", "context_id", "flush"}));
  EXPECT_EQ(flush.at("text").as_string(), "Line \"two\"\n");
  EXPECT_EQ(flush.at("flush").as_bool(), true);
}

TEST(ElevenLabsCodec, SocketCloseContextAndKeepalive) {
  const auto close = obj(codec::tts_socket_close_context("turn-1"));
  EXPECT_EQ(keys(close), (std::set<std::string>{"context_id", "close_context"}));
  EXPECT_EQ(close.at("context_id").as_string(), "turn-1");
  EXPECT_EQ(close.at("close_context").as_bool(), true);

  const auto keep = obj(codec::tts_socket_keepalive("turn-1"));
  EXPECT_EQ(keys(keep), (std::set<std::string>{"context_id", "text"}));
  EXPECT_EQ(keep.at("context_id").as_string(), "turn-1");
  EXPECT_EQ(keep.at("text").as_string(), "") << "multi-stream keep-alive is empty text";
}

// --- realtime STT (§6) ------------------------------------------------------------

TEST(ElevenLabsCodec, RealtimeAudioChunk) {
  const auto o = obj(codec::realtime_audio_chunk("f39/fw==", false, 8000));
  EXPECT_EQ(keys(o), (std::set<std::string>{"message_type", "audio_base_64", "commit", "sample_rate"}));
  EXPECT_EQ(o.at("message_type").as_string(), "input_audio_chunk");
  EXPECT_EQ(o.at("audio_base_64").as_string(), "f39/fw==");
  EXPECT_EQ(o.at("commit").as_bool(), false);
  EXPECT_EQ(o.at("sample_rate").to_number<int>(), 8000);

  const auto commit = obj(codec::realtime_audio_chunk("", true, 8000));
  EXPECT_EQ(commit.at("audio_base_64").as_string(), "");
  EXPECT_EQ(commit.at("commit").as_bool(), true);
}

TEST(ElevenLabsCodec, RealtimeMessageTypes) {
  using T = RealtimeMessage::Type;
  auto m = codec::parse_realtime_message(
      R"({"message_type":"session_started","session_id":"sess-1","config":{"sample_rate":8000}})");
  EXPECT_EQ(m.type, T::kSessionStarted);
  EXPECT_EQ(m.session_id, "sess-1");

  m = codec::parse_realtime_message(R"({"message_type":"partial_transcript","text":"book a"})");
  EXPECT_EQ(m.type, T::kPartial);
  EXPECT_EQ(m.text, "book a");

  m = codec::parse_realtime_message(R"({"message_type":"final_transcript","text":"book a table"})");
  EXPECT_EQ(m.type, T::kFinal);
  EXPECT_EQ(m.text, "book a table");

  m = codec::parse_realtime_message(R"({"message_type":"committed_transcript","text":"book a table"})");
  EXPECT_EQ(m.type, T::kCommitted);
  EXPECT_EQ(m.text, "book a table");
  EXPECT_TRUE(m.error.empty());

  m = codec::parse_realtime_message(
      R"({"message_type":"committed_transcript_with_timestamps","text":"hi","language_code":null,"words":null})");
  EXPECT_EQ(m.type, T::kCommittedWithTimestamps);
  EXPECT_EQ(m.text, "hi");

  m = codec::parse_realtime_message(R"({"message_type":"committed_transcript_entities","text":"x","entities":[]})");
  EXPECT_EQ(m.type, T::kOther);
  EXPECT_EQ(m.message_type, "committed_transcript_entities");
}

TEST(ElevenLabsCodec, RealtimeErrorKinds) {
  using T = RealtimeMessage::Type;
  for (const char* kind : {"error", "auth_error", "quota_exceeded", "input_error", "invalid_request", "rate_limited",
                           "session_time_limit_exceeded", "chunk_size_exceeded"}) {
    const auto m = codec::parse_realtime_message(std::string(R"({"message_type":")") + kind +
                                                 R"(","error":"something about )" + kind + R"("})");
    EXPECT_EQ(m.type, T::kError) << kind;
    EXPECT_EQ(m.message_type, kind);
    EXPECT_EQ(m.error, std::string("something about ") + kind);
  }
  EXPECT_THROW(codec::parse_realtime_message("nope"), std::invalid_argument);
}

// --- sentence splitting (tts_socket.hpp) ----------------------------------------------

void expect_single_trailing_space(const std::vector<std::string>& pieces) {
  for (const auto& p : pieces) {
    ASSERT_GE(p.size(), 2u) << "'" << p << "'";
    EXPECT_EQ(p.back(), ' ') << "'" << p << "'";
    EXPECT_NE(p[p.size() - 2], ' ') << "'" << p << "'";
    EXPECT_NE(p.front(), ' ') << "'" << p << "'";
  }
}

TEST(SplitSentences, SplitsAtSentenceEnds) {
  const auto pieces = split_sentences("Hello there. How are you? Fine");
  EXPECT_EQ(pieces, (std::vector<std::string>{"Hello there. ", "How are you? ", "Fine "}));
  expect_single_trailing_space(pieces);
}

TEST(SplitSentences, OtherMarksNewlinesAndExtraSpace) {
  // Only sentence ends split; "You said: ..." stays one piece.
  const auto pieces = split_sentences("  Wait!   Really?\nYes; sure: ok.  ");
  EXPECT_EQ(pieces, (std::vector<std::string>{"Wait! ", "Really? ", "Yes; sure: ok. "}));
  expect_single_trailing_space(pieces);
}

TEST(SplitSentences, AbbreviationSplitsButDecimalDoesNot) {
  // A mark splits only when a space (or newline, or the end) follows it: "e.g." with
  // its trailing space ends a piece, the point inside "3.5" does not.
  const auto pieces = split_sentences("e.g. 3.5 dollars");
  EXPECT_EQ(pieces, (std::vector<std::string>{"e.g. ", "3.5 dollars "}));
  expect_single_trailing_space(pieces);
  EXPECT_EQ(split_sentences("It costs 3.5 dollars."), (std::vector<std::string>{"It costs 3.5 dollars. "}));
  EXPECT_EQ(split_sentences("Visit example.com today"), (std::vector<std::string>{"Visit example.com today "}));
}

TEST(SplitSentences, EmptyAndWhitespaceGiveNothing) {
  EXPECT_TRUE(split_sentences("").empty());
  EXPECT_TRUE(split_sentences(" ").empty());
  EXPECT_TRUE(split_sentences(" \t\r\n  ").empty());
}

// Found by the fuzzer (fuzz/regressions/elevenlabs): a count too large for a long was
// cast anyway (undefined behaviour); it is clamped now, and a negative one reads 0.
TEST(ElevenLabsCodec, SubscriptionCountsOutOfRangeAreClamped) {
  const auto s = codec::parse_subscription(
      R"({"tier":"free","character_count":1333333333333333333333333333333333330,"character_limit":-5})");
  EXPECT_EQ(s.character_count, 1000000000000000L);
  EXPECT_EQ(s.character_limit, 0);
  const auto ok = codec::parse_subscription(R"({"character_count":1234,"character_limit":10000})");
  EXPECT_EQ(ok.character_count, 1234);
  EXPECT_EQ(ok.character_limit, 10000);
}

}  // namespace
}  // namespace vox::elevenlabs
