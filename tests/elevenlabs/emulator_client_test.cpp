// The ElevenLabs clients against the emulator, in process, over real loopback sockets
// with TLS (a CA and server certificate made by the test) and plain HTTP. Every request
// the clients send is checked against the OpenAPI subset in ../shared/specs, and so is
// every JSON answer of the emulator.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <future>
#include <map>
#include <set>

#include "audio/formats.hpp"
#include "audio/g711.hpp"
#include "audio/mp3.hpp"
#include "e2e/e2e_support.hpp"
#include "elevenlabs/codec.hpp"
#include "elevenlabs/rest_client.hpp"
#include "elevenlabs/tts_socket.hpp"
#include "net/server.hpp"
#include "sim/elevenlabs_emulator.hpp"
#include "speech/elevenlabs_stt.hpp"
#include "speech/elevenlabs_tts.hpp"
#include "support/openapi_check.hpp"
#include "support/test_certs.hpp"

namespace vox::test {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;

// Recognises what the emulated voice says back in these tests.
std::vector<std::string> emulator_phrases() {
  auto p = caller_phrases();
  p.push_back("hello and welcome please say something");
  p.push_back("thank you for calling goodbye");
  return p;
}

// One emulator behind two listeners (TLS and plain) on a shared io_context.
class Emulator {
 public:
  static Emulator& get() {
    static Emulator e;
    return e;
  }
  std::string https() const { return "https://127.0.0.1:" + std::to_string(tls_port_); }
  std::string http() const { return "http://127.0.0.1:" + std::to_string(plain_port_); }
  const testing::TestPki& pki() const { return pki_; }
  asio::io_context& ioc() { return io_.context(); }
  IoThread& io() { return io_; }
  speech::EspeakTts& espeak() { return tts_; }
  speech::PocketsphinxStt& sphinx() { return stt_; }

  // Closes every WebSocket (so no session is left in a reference cycle at exit) before
  // the io thread stops.
  ~Emulator() {
    plain_->shutdown();
    tls_->shutdown();
    io_.run([&]() -> asio::awaitable<bool> {
      co_await plain_->wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(5));
      co_await tls_->wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(5));
      co_return true;
    });
  }

  // The admin API.
  json::array requests() {
    auto r = io_.run([&]() { return net::http_request("GET", http() + "/emulator/requests", {}, ""); });
    return json::parse(r.body).as_array();
  }
  void clear() {
    io_.run([&]() { return net::http_request("DELETE", http() + "/emulator/requests", {}, ""); });
    io_.run([&]() { return net::http_request("DELETE", http() + "/emulator/faults", {}, ""); });
  }
  void fault(const json::object& f) {
    auto r = io_.run([&]() { return net::http_request("POST", http() + "/emulator/faults", {}, json::serialize(f)); });
    ASSERT_EQ(r.status, 200) << r.body;
  }

 private:
  Emulator()
      : pki_(testing::make_test_pki()),
        tts_([] {
          speech::EspeakSettings s;
          s.voice = kVoice;
          return s;
        }()),
        stt_(
            [] {
              speech::SphinxSettings s;
              s.mode = "grammar";
              return s;
            }(),
            emulator_phrases(), 2) {
    sim::ElevenLabsEmulatorOptions o;
    o.espeak_voice = kVoice;
    emulator_ = std::make_unique<sim::ElevenLabsEmulator>(io_.context(), o, tts_, stt_);
    net::Router plain;
    emulator_->add_routes(plain);
    net::Router secure;
    emulator_->add_routes(secure);
    net::ServerLimits limits;
    limits.max_http_body = 16u << 20;
    plain_ = std::make_unique<net::Server>(io_.context(), std::move(plain), limits);
    tls_ = std::make_unique<net::Server>(io_.context(), std::move(secure), limits,
                                         net::ServerTls{pki_.server_cert_file, pki_.server_key_file});
    plain_port_ = plain_->listen("127.0.0.1", 0);
    tls_port_ = tls_->listen("127.0.0.1", 0);
  }

  testing::TestPki pki_;
  speech::EspeakTts tts_;
  speech::PocketsphinxStt stt_;
  IoThread io_;
  std::unique_ptr<sim::ElevenLabsEmulator> emulator_;
  std::unique_ptr<net::Server> plain_;
  std::unique_ptr<net::Server> tls_;
  std::uint16_t plain_port_ = 0;
  std::uint16_t tls_port_ = 0;
};

const testing::OpenApiSpec& spec() {
  static auto s = testing::OpenApiSpec::load(std::string(VOX_SPECS_DIR) + "/elevenlabs_openapi_subset.json");
  return s;
}

elevenlabs::Settings config_for(const std::string& base) {
  elevenlabs::Settings c;
  c.api_key = "test-key";
  c.base_url = base;
  c.ca_file = Emulator::get().pki().ca_cert_file;
  return c;
}

net::HttpClientOptions client_options() {
  net::HttpClientOptions o;
  o.tls = net::TlsOptions(Emulator::get().pki().ca_cert_file);
  o.retry.base_delay = std::chrono::milliseconds(5);
  return o;
}

// Checks every REST request the emulator recorded against the OpenAPI subset.
int check_recorded_requests() {
  int checked = 0;
  for (const auto& v : Emulator::get().requests()) {
    const auto& r = v.as_object();
    const std::string target(r.at("target").as_string());
    if (target.find("stream-input") != std::string::npos || target.find("/realtime") != std::string::npos) continue;
    net::Headers headers;
    for (const auto& [k, val] : r.at("headers").as_object()) headers.emplace_back(std::string(k), std::string(val.as_string()));
    auto problems = spec().check_request(std::string(r.at("method").as_string()), target, headers,
                                         std::string(r.at("content_type").as_string()), std::string(r.at("body").as_string()));
    EXPECT_TRUE(problems.empty()) << r.at("method").as_string() << " " << target << ": " << problems.front();
    EXPECT_EQ(r.at("headers").as_object().at("xi-api-key").as_string(), "test-key");
    ++checked;
  }
  return checked;
}

template <typename T>
T run(std::function<asio::awaitable<T>()> f) {
  return Emulator::get().io().run(std::move(f));
}

// ---------------------------------------------------------------------------------------

TEST(ElevenLabsClient, RestCallsOverTlsConformToTheSpec) {
  auto& em = Emulator::get();
  em.clear();
  net::HttpClient http(em.ioc().get_executor(), client_options());
  elevenlabs::RestClient rest(http, config_for(em.https()));

  auto voices = run<std::vector<elevenlabs::Voice>>([&]() { return rest.voices(); });
  ASSERT_EQ(voices.size(), 4u);
  EXPECT_EQ(voices[0].voice_id, "21m00Tcm4TlvDq8ikWAM");
  // Paging through /v2/voices two at a time.
  elevenlabs::VoicesQuery q;
  q.page_size = 2;
  auto page = run<elevenlabs::VoicesPage>([&]() { return rest.voices_page(q); });
  EXPECT_EQ(page.voices.size(), 2u);
  EXPECT_TRUE(page.has_more);
  ASSERT_TRUE(page.total_count);
  EXPECT_EQ(*page.total_count, 4);
  auto all = run<std::vector<elevenlabs::Voice>>([&]() { return rest.all_voices(); });
  EXPECT_EQ(all.size(), 4u);
  auto one = run<elevenlabs::Voice>([&]() { return rest.voice("JBFqnCBsd6RMkjVDRZzb"); });
  EXPECT_EQ(one.name, "George");
  auto vs = run<elevenlabs::VoiceSettings>([&]() { return rest.voice_settings("EXAVITQu4vr4xnSDxMaL"); });
  EXPECT_DOUBLE_EQ(vs.stability, 0.5);
  auto defaults = run<elevenlabs::VoiceSettings>([&]() { return rest.default_voice_settings(); });
  EXPECT_DOUBLE_EQ(defaults.similarity_boost, 0.75);
  auto models = run<std::vector<elevenlabs::Model>>([&]() { return rest.models(); });
  ASSERT_FALSE(models.empty());
  EXPECT_EQ(models[0].model_id, "eleven_flash_v2_5");
  auto sub = run<elevenlabs::Subscription>([&]() { return rest.subscription(); });
  EXPECT_EQ(sub.status, "active");

  // Text to speech in Twilio's format: 8000 bytes per second, headerless.
  elevenlabs::TtsOptions t;
  t.output_format = "ulaw_8000";
  t.voice_settings = elevenlabs::VoiceSettings{};
  t.optimize_streaming_latency = 2;
  auto ulaw = run<std::string>([&]() { return rest.text_to_speech("good morning", t); });
  EXPECT_GT(ulaw.size(), 4000u);   // > 0.5 s
  EXPECT_LT(ulaw.size(), 24000u);  // < 3 s
  // The reused TLS connection: one handshake for all of the above.
  EXPECT_EQ(http.stats().connections_opened, 1u);
  EXPECT_GE(http.stats().connections_reused, 8u);

  // STT batch: a WAV of the phrase comes back as text.
  auto spoken = em.espeak().synthesize_blocking("what time is it", kVoice);
  std::vector<std::int16_t> pcm(spoken.size());
  audio::ulaw_decode(spoken, pcm);
  auto wav = audio::encode_audio(pcm, 8000, *audio::parse_output_format("wav_8000"));
  auto tr = run<elevenlabs::Transcript>([&]() {
    return rest.speech_to_text(std::string(wav.begin(), wav.end()), elevenlabs::SttOptions{});
  });
  EXPECT_EQ(normalized(tr.text), "what time is it");
  EXPECT_FALSE(tr.words.empty());

  EXPECT_EQ(check_recorded_requests(), 10);  // each one checked against the spec
}

TEST(ElevenLabsClient, StreamingTtsOverPlainHttpInEveryFormat) {
  auto& em = Emulator::get();
  em.clear();
  net::HttpClient http(em.ioc().get_executor(), client_options());
  elevenlabs::RestClient rest(http, config_for(em.http()));
  const std::string text = "thank you very much";

  // ulaw_8000 streams in several pieces.
  elevenlabs::TtsOptions t;
  std::size_t pieces = 0, bytes = 0;
  run<bool>([&]() -> asio::awaitable<bool> {
    co_await rest.text_to_speech_stream(text, t, [&](std::string_view d) {
      ++pieces;
      bytes += d.size();
      return true;
    });
    co_return true;
  });
  EXPECT_GE(pieces, 2u);
  EXPECT_GT(bytes, 4000u);

  // pcm_16000: twice the samples of 8 kHz, two bytes each.
  t.output_format = "pcm_16000";
  auto pcm16 = run<std::string>([&]() { return rest.text_to_speech(text, t); });
  EXPECT_NEAR(static_cast<double>(pcm16.size()) / 4.0, static_cast<double>(bytes), static_cast<double>(bytes) * 0.05);

  // mp3 decodes to about the same duration.
  t.output_format = "mp3_22050_32";
  auto mp3 = run<std::string>([&]() { return rest.text_to_speech(text, t); });
  int rate = 0;
  auto decoded = audio::decode_mp3(std::span(reinterpret_cast<const std::uint8_t*>(mp3.data()), mp3.size()), rate);
  EXPECT_EQ(rate, 22050);
  EXPECT_NEAR(static_cast<double>(decoded.size()) / 22050.0, static_cast<double>(bytes) / 8000.0, 0.2);

  // With timestamps: alignment covers the text; the streamed variant comes line by line.
  t.output_format = "ulaw_8000";
  auto timed = run<elevenlabs::TimedAudio>([&]() { return rest.text_to_speech_timed(text, t); });
  ASSERT_TRUE(timed.alignment);
  std::string joined;
  for (const auto& c : timed.alignment->chars) joined += c;
  EXPECT_EQ(joined, text);
  std::string streamed_chars;
  std::size_t timed_pieces = 0;
  run<bool>([&]() -> asio::awaitable<bool> {
    co_await rest.text_to_speech_timed_stream(text, t, [&](elevenlabs::TimedAudio& p) {
      ++timed_pieces;
      if (p.alignment)
        for (const auto& c : p.alignment->chars) streamed_chars += c;
      return true;
    });
    co_return true;
  });
  EXPECT_GE(timed_pieces, 2u);
  EXPECT_EQ(streamed_chars, text);
  EXPECT_GE(check_recorded_requests(), 5);
}

TEST(ElevenLabsClient, EmulatorJsonAnswersConformToTheSpec) {
  auto& em = Emulator::get();
  net::HttpClient http(em.ioc().get_executor(), client_options());
  struct Case {
    std::string method, target, body;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET", "/v1/voices", "", 200},
      {"GET", "/v2/voices?page_size=1&include_total_count=true", "", 200},
      {"GET", "/v1/voices/21m00Tcm4TlvDq8ikWAM", "", 200},
      {"GET", "/v1/voices/21m00Tcm4TlvDq8ikWAM/settings", "", 200},
      {"GET", "/v1/voices/settings/default", "", 200},
      {"GET", "/v1/models", "", 200},
      {"GET", "/v1/user/subscription", "", 200},
      {"POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/with-timestamps?output_format=ulaw_8000", R"({"text":"hello there"})", 200},
      {"POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=ulaw_8000", R"({"model_id":"x"})", 422},
      {"GET", "/v2/voices?page_size=500", "", 422},
  };
  for (const auto& c : cases) {
    net::ClientRequest req;
    req.method = c.method;
    req.url = em.https() + c.target;
    req.headers.emplace_back("xi-api-key", "test-key");
    if (!c.body.empty()) req.headers.emplace_back("content-type", "application/json");
    req.body = c.body;
    auto res = run<net::HttpResponse>([&]() { return http.send(req); });
    ASSERT_EQ(res.status, c.status) << c.target << ": " << res.body;
    auto problems = spec().check_response_json(c.method, c.target, res.status, res.body);
    EXPECT_TRUE(problems.empty()) << c.method << " " << c.target << ": " << problems.front();
  }
}

TEST(ElevenLabsClient, ErrorsAreTyped) {
  auto& em = Emulator::get();
  em.clear();
  net::HttpClient http(em.ioc().get_executor(), client_options());
  auto cfg = config_for(em.http());
  cfg.api_key = "wrong";
  elevenlabs::RestClient bad(http, cfg);
  try {
    run<std::vector<elevenlabs::Model>>([&]() { return bad.models(); });
    FAIL() << "a wrong key must fail";
  } catch (const elevenlabs::ApiError& e) {
    EXPECT_EQ(e.kind, elevenlabs::ApiError::Kind::kAuth);
    EXPECT_EQ(e.status, 401);
    EXPECT_EQ(e.code, "invalid_api_key");
  }
  elevenlabs::RestClient rest(http, config_for(em.http()));
  try {
    run<elevenlabs::Voice>([&]() { return rest.voice("no-such-voice"); });
    FAIL() << "an unknown voice must fail";
  } catch (const elevenlabs::ApiError& e) {
    EXPECT_EQ(e.kind, elevenlabs::ApiError::Kind::kNotFound);
    EXPECT_EQ(e.code, "voice_not_found");
  }
  // 429 twice, then success: retried with backoff.
  em.fault(json::object{{"match", "POST /v1/text-to-speech"}, {"kind", "status"}, {"status", 429},
                        {"code", "too_many_concurrent_requests"}, {"times", 2}});
  const auto retries_before = http.stats().retries;
  auto audio = run<std::string>([&]() { return rest.text_to_speech("hello there", elevenlabs::TtsOptions{}); });
  EXPECT_GT(audio.size(), 1000u);
  EXPECT_EQ(http.stats().retries - retries_before, 2u);
  // A 500 that persists surfaces as a server error after the retries.
  em.fault(json::object{{"match", "POST /v1/text-to-speech"}, {"kind", "status"}, {"status", 500}, {"times", 3}});
  try {
    run<std::string>([&]() { return rest.text_to_speech("hello there", elevenlabs::TtsOptions{}); });
    FAIL() << "persistent 500 must fail";
  } catch (const elevenlabs::ApiError& e) {
    EXPECT_EQ(e.kind, elevenlabs::ApiError::Kind::kServer);
    EXPECT_TRUE(e.retryable());
  }
  em.clear();
}

// Collects one synthesis.
struct Collected {
  std::vector<std::uint8_t> audio;
  std::vector<speech::WordTiming> words;
  std::optional<std::string> error;
};

Collected synthesize(speech::TextToSpeech& tts, const std::string& text, std::shared_ptr<speech::CancelToken>* token_out = nullptr,
                     std::function<void(std::size_t)> on_bytes = {}) {
  auto done = std::make_shared<std::promise<void>>();
  auto out = std::make_shared<Collected>();
  auto mu = std::make_shared<std::mutex>();
  speech::TtsCallbacks cb;
  cb.on_audio = [out, mu, on_bytes](std::span<const std::uint8_t> a) {
    std::size_t total;
    {
      std::lock_guard lock(*mu);
      out->audio.insert(out->audio.end(), a.begin(), a.end());
      total = out->audio.size();
    }
    if (on_bytes) on_bytes(total);
  };
  cb.on_word = [out, mu](const speech::WordTiming& w) {
    std::lock_guard lock(*mu);
    out->words.push_back(w);
  };
  cb.on_done = [out, done](std::optional<std::string> e) {
    out->error = e;
    done->set_value();
  };
  speech::TtsRequest req;
  req.text = text;
  auto token = tts.synthesize(req, cb);
  if (token_out) *token_out = token;
  EXPECT_EQ(done->get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  return *out;
}

std::string transcribe(const std::vector<std::uint8_t>& ulaw) {
  return normalized(Emulator::get().sphinx().transcribe_blocking(ulaw).text);
}

TEST(ElevenLabsTts, WebSocketRepliesInUlawWithWordTimes) {
  auto& em = Emulator::get();
  em.clear();
  net::HttpClient http(em.ioc().get_executor(), client_options());
  speech::ElevenLabsTts tts(em.ioc(), http, config_for(em.https()), &em.espeak());
  auto r = synthesize(tts, "Thank you very much.");
  EXPECT_FALSE(r.error);
  EXPECT_EQ(transcribe(r.audio), "thank you very much");
  ASSERT_EQ(r.words.size(), 4u);
  EXPECT_EQ(r.words[0].word, "Thank");
  EXPECT_EQ(r.words[3].word, "much.");
  for (std::size_t i = 1; i < r.words.size(); ++i) EXPECT_GT(r.words[i].start_ms, r.words[i - 1].start_ms);
  EXPECT_LT(r.words[3].start_ms, static_cast<int>(r.audio.size() / 8));
  // A second reply reuses the warm socket.
  auto r2 = synthesize(tts, "Good morning.");
  EXPECT_EQ(transcribe(r2.audio), "good morning");
  EXPECT_EQ(tts.stats().socket_connects, 1);
  EXPECT_EQ(tts.stats().fallbacks, 0);
  // What went over the socket: ulaw_8000 in the URL, init/text/flush/close_context.
  int sockets = 0;
  for (const auto& v : em.requests()) {
    const auto& o = v.as_object();
    const std::string target(o.at("target").as_string());
    if (target.find("multi-stream-input") == std::string::npos) continue;
    ++sockets;
    EXPECT_NE(target.find("output_format=ulaw_8000"), std::string::npos) << target;
    EXPECT_NE(target.find("model_id=eleven_flash_v2_5"), std::string::npos) << target;
    std::string all;
    for (const auto& m : o.at("ws_messages").as_array()) all += std::string(m.as_string()) + "\n";
    EXPECT_NE(all.find(R"("text":" ")"), std::string::npos) << all;
    EXPECT_NE(all.find(R"("flush":true)"), std::string::npos) << all;
    EXPECT_NE(all.find(R"("close_context":true)"), std::string::npos) << all;
  }
  EXPECT_EQ(sockets, 1);
}

TEST(ElevenLabsTts, SocketRefusedFallsBackToRest) {
  auto& em = Emulator::get();
  em.clear();
  em.fault(json::object{{"match", "WS /v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/multi-stream-input#upgrade"},
                        {"kind", "status"}, {"status", 503}, {"times", 1}});
  net::HttpClient http(em.ioc().get_executor(), client_options());
  speech::ElevenLabsTts tts(em.ioc(), http, config_for(em.http()), &em.espeak());
  auto r = synthesize(tts, "Good morning.");
  EXPECT_FALSE(r.error);
  EXPECT_EQ(transcribe(r.audio), "good morning");
  EXPECT_EQ(tts.stats().rest_requests, 1);
  EXPECT_EQ(tts.stats().fallbacks, 0);
  EXPECT_EQ(check_recorded_requests(), 1);  // the REST retry, in spec
  em.clear();
}

TEST(ElevenLabsTts, FailureMidReplyIsFinishedByTheFallbackEngine) {
  auto& em = Emulator::get();
  for (const std::string kind : {"close", "reset", "stall"}) {
    SCOPED_TRACE(kind);
    em.clear();
    json::object f{{"match", "WS /v1/text-to-speech"}, {"kind", kind}, {"after_chunks", 2}, {"times", 1}};
    if (kind == "stall") f["delay_ms"] = 20000;
    em.fault(f);
    net::HttpClient http(em.ioc().get_executor(), client_options());
    speech::ElevenLabsTts tts(em.ioc(), http, config_for(em.http()), &em.espeak());
    const auto start = std::chrono::steady_clock::now();
    auto r = synthesize(tts, "I would like to book a table for two people tonight please.");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(r.error);
    EXPECT_EQ(tts.stats().fallbacks, 1);
    // More audio than the two chunks (400 ms) ElevenLabs delivered: the rest was spoken.
    EXPECT_GT(r.audio.size(), 8000u * 2);
    EXPECT_LT(took, std::chrono::seconds(15));  // a stalled provider does not hang the reply
    // Word times keep increasing across the switch of engines.
    for (std::size_t i = 1; i < r.words.size(); ++i) EXPECT_GE(r.words[i].start_ms, r.words[i - 1].start_ms);
  }
  em.clear();
}

TEST(ElevenLabsTts, CancelClosesTheContextAtOnce) {
  auto& em = Emulator::get();
  em.clear();
  // Slow the stream down so the reply is still being generated when we cancel.
  auto lat = em.io().run([&]() {
    return net::http_request("POST", em.http() + "/emulator/latency", {}, R"({"chunk_interval_ms":100})");
  });
  ASSERT_EQ(lat.status, 200);
  net::HttpClient http(em.ioc().get_executor(), client_options());
  speech::ElevenLabsTts tts(em.ioc(), http, config_for(em.http()), &em.espeak());
  auto done = std::make_shared<std::promise<std::optional<std::string>>>();
  auto first_audio = std::make_shared<std::promise<void>>();
  auto bytes = std::make_shared<std::atomic<std::size_t>>(0);
  speech::TtsCallbacks cb;
  cb.on_audio = [bytes, first_audio](std::span<const std::uint8_t> a) {
    if (bytes->fetch_add(a.size()) == 0) first_audio->set_value();
  };
  cb.on_done = [done](std::optional<std::string> e) { done->set_value(e); };
  speech::TtsRequest req;
  req.text = "My order has not arrived. It is raining outside. Please send me a letter. Where is my car?";
  auto token = tts.synthesize(req, cb);
  ASSERT_EQ(first_audio->get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
  token->cancel();
  auto fut = done->get_future();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_FALSE(fut.get());
  EXPECT_EQ(tts.stats().cancelled, 1);
  EXPECT_LT(bytes->load(), 8000u * 3);  // far less than the whole reply (about 6 s)
  auto reset = em.io().run([&]() {
    return net::http_request("POST", em.http() + "/emulator/latency", {}, R"({"chunk_interval_ms":0})");
  });
  ASSERT_EQ(reset.status, 200);
  // The context was closed on the socket (the emulator records it as it arrives).
  auto context_closed = [&] {
    for (const auto& v : em.requests())
      for (const auto& m : v.as_object().at("ws_messages").as_array())
        if (std::string(m.as_string()).find(R"("close_context":true)") != std::string::npos) return true;
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!context_closed() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(context_closed());
}

// Feeds `ulaw` to a realtime stream in 20 ms frames and returns the result.
speech::SttResult stream_utterance(speech::SpeechToText& stt, const std::vector<std::uint8_t>& ulaw) {
  auto s = stt.open_stream();
  EXPECT_TRUE(s);
  if (!s) return {};
  for (std::size_t off = 0; off < ulaw.size(); off += 160)
    s->push(std::span(ulaw.data() + off, std::min<std::size_t>(160, ulaw.size() - off)));
  auto p = std::make_shared<std::promise<speech::SttResult>>();
  s->finish([p](speech::SttResult r) { p->set_value(std::move(r)); });
  auto f = p->get_future();
  EXPECT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  return f.get();
}

TEST(ElevenLabsStt, RealtimeTranscribesWhileStreamingAndFallsBackToBatch) {
  auto& em = Emulator::get();
  em.clear();
  net::HttpClient http(em.ioc().get_executor(), client_options());
  speech::ElevenLabsStt stt(em.ioc(), http, config_for(em.https()));
  auto audio = em.espeak().synthesize_blocking("is the store open on sunday", kVoice);
  auto r = stream_utterance(stt, audio);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(normalized(r.text), "is the store open on sunday");
  EXPECT_EQ(stt.stats().realtime_transcripts, 1);
  EXPECT_EQ(stt.stats().batch_requests, 0);
  // What the realtime socket got: ulaw_8000 at 8000 Hz and a manual commit.
  bool saw_commit = false;
  for (const auto& v : em.requests()) {
    const auto& o = v.as_object();
    const std::string target(o.at("target").as_string());
    if (target.find("/v1/speech-to-text/realtime") == std::string::npos) continue;
    EXPECT_NE(target.find("model_id=scribe_v2_realtime"), std::string::npos);
    EXPECT_NE(target.find("audio_format=ulaw_8000"), std::string::npos);
    for (const auto& m : o.at("ws_messages").as_array()) {
      auto msg = json::parse(m.as_string()).as_object();
      EXPECT_EQ(msg.at("message_type").as_string(), "input_audio_chunk");
      EXPECT_EQ(msg.at("sample_rate").as_int64(), 8000);
      if (msg.at("commit").as_bool()) saw_commit = true;
    }
  }
  EXPECT_TRUE(saw_commit);

  // The realtime service refuses: the batch endpoint answers instead.
  em.fault(json::object{{"match", "WS /v1/speech-to-text/realtime#upgrade"}, {"kind", "status"}, {"status", 503}, {"times", 1}});
  auto audio2 = em.espeak().synthesize_blocking("i forgot my password", kVoice);
  auto r2 = stream_utterance(stt, audio2);
  EXPECT_TRUE(r2.ok) << r2.error;
  EXPECT_EQ(normalized(r2.text), "i forgot my password");
  EXPECT_EQ(stt.stats().realtime_fallbacks, 1);
  EXPECT_EQ(stt.stats().batch_requests, 1);
  // The realtime socket drops mid-utterance: batch again.
  em.fault(json::object{{"match", "WS /v1/speech-to-text/realtime"}, {"kind", "reset"}, {"after_chunks", 3}, {"times", 1}});
  auto r3 = stream_utterance(stt, audio2);
  EXPECT_EQ(normalized(r3.text), "i forgot my password");
  EXPECT_EQ(stt.stats().realtime_fallbacks, 2);
  EXPECT_EQ(check_recorded_requests(), 2);  // the two batch requests, in spec
  em.clear();
}

}  // namespace
}  // namespace vox::test

namespace vox::test {
namespace {

// Reads messages until the socket closes or `until` says stop; returns them.
std::vector<std::string> read_all(net::WsClient& ws, std::function<bool(const std::string&)> until = {}) {
  std::vector<std::string> out;
  Emulator::get().io().run([&]() -> asio::awaitable<bool> {
    for (;;) {
      auto m = co_await ws.read();
      if (!m) break;
      out.push_back(*m);
      if (until && until(*m)) break;
    }
    co_return true;
  });
  return out;
}

std::shared_ptr<net::WsClient> open_ws(const std::string& path, bool with_key = true) {
  auto& em = Emulator::get();
  net::Headers h;
  if (with_key) h.emplace_back("xi-api-key", "test-key");
  const std::string url = "ws" + em.http().substr(4) + path;
  return em.io().run([&]() { return net::WsClient::connect(url, h); });
}

void send(net::WsClient& ws, std::string msg) {
  asio::post(ws.executor(), [&ws, msg]() mutable { ws.send(std::move(msg)); });
}

TEST(ElevenLabsEmulator, StreamInputFlowAudioThenFinalThenClose) {
  auto ws = open_ws("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input?model_id=eleven_flash_v2_5&output_format=ulaw_8000");
  send(*ws, R"({"text":" ","voice_settings":{"stability":0.5,"similarity_boost":0.8}})");
  send(*ws, R"({"text":"Good morning. "})");
  send(*ws, R"({"text":""})");
  auto msgs = read_all(*ws);
  ASSERT_GE(msgs.size(), 2u);
  std::size_t audio = 0;
  std::string chars;
  for (std::size_t i = 0; i + 1 < msgs.size(); ++i) {
    auto m = elevenlabs::codec::parse_tts_socket_message(msgs[i]);
    EXPECT_FALSE(m.is_final);
    audio += m.audio.size();
    ASSERT_TRUE(m.alignment);
    for (const auto& c : m.alignment->chars) chars += c;
    // The emitted spelling is charDurationsMs; times are relative to the chunk.
    EXPECT_NE(msgs[i].find("charDurationsMs"), std::string::npos);
  }
  EXPECT_EQ(chars, "Good morning. ");
  EXPECT_GT(audio, 4000u);
  EXPECT_TRUE(elevenlabs::codec::parse_tts_socket_message(msgs.back()).is_final);
  EXPECT_EQ(ws->close_code(), 1000);  // closed normally after the final message
}

TEST(ElevenLabsEmulator, StreamInputRejectsChangedVoiceSettingsAndMissingKey) {
  auto ws = open_ws("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input?output_format=ulaw_8000");
  send(*ws, R"({"text":" ","voice_settings":{"stability":0.5}})");
  send(*ws, R"({"text":"Hello. ","voice_settings":{"stability":0.9}})");
  auto msgs = read_all(*ws);
  EXPECT_EQ(ws->close_code(), 1008);
  ASSERT_FALSE(msgs.empty());
  EXPECT_NE(msgs.back().find("voice_settings"), std::string::npos);

  // No key in the header: the first message must carry it.
  auto anon = open_ws("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input?output_format=ulaw_8000", false);
  send(*anon, R"({"text":" "})");
  read_all(*anon);
  EXPECT_EQ(anon->close_code(), 1008);
  auto keyed = open_ws("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input?output_format=ulaw_8000", false);
  send(*keyed, R"({"text":" ","xi_api_key":"test-key"})");
  send(*keyed, R"({"text":"Hello there. "})");
  send(*keyed, R"({"text":""})");
  auto ok = read_all(*keyed);
  EXPECT_EQ(keyed->close_code(), 1000);
  EXPECT_TRUE(elevenlabs::codec::parse_tts_socket_message(ok.back()).is_final);
}

TEST(ElevenLabsEmulator, InactivityClosesWith1008) {
  auto ws = open_ws("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input?output_format=ulaw_8000&inactivity_timeout=1");
  send(*ws, R"({"text":" "})");
  const auto start = std::chrono::steady_clock::now();
  auto msgs = read_all(*ws);
  EXPECT_EQ(ws->close_code(), 1008);
  EXPECT_NE(ws->close_reason().find("timeout"), std::string::npos) << ws->close_reason();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(800));
}

TEST(ElevenLabsEmulator, MultiStreamContextsAreIndependentAndFinalComesOnClose) {
  auto ws = open_ws("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/multi-stream-input?output_format=ulaw_8000");
  send(*ws, R"({"text":" ","context_id":"a"})");
  send(*ws, R"({"text":" ","context_id":"b"})");
  send(*ws, R"({"text":"Good morning. ","context_id":"a","flush":true})");
  send(*ws, R"({"text":"Thank you very much. ","context_id":"b","flush":true})");
  std::map<std::string, std::size_t> audio;
  std::set<std::string> finals;
  read_all(*ws, [&](const std::string& raw) {
    auto m = elevenlabs::codec::parse_tts_socket_message(raw);
    audio[m.context_id] += m.audio.size();
    if (m.is_final) finals.insert(m.context_id);
    // Once both have spoken a while, close them; the final for each comes on close.
    if (audio["a"] > 4000 && audio["b"] > 4000 && finals.empty()) {
      send(*ws, R"({"context_id":"a","close_context":true})");
      send(*ws, R"({"context_id":"b","close_context":true})");
    }
    return finals.size() == 2;
  });
  EXPECT_GT(audio["a"], 4000u);
  EXPECT_GT(audio["b"], 4000u);
  EXPECT_EQ(finals, (std::set<std::string>{"a", "b"}));
  Emulator::get().io().run([&]() -> asio::awaitable<bool> {
    ws->close();
    co_return true;
  });
}

TEST(ElevenLabsEmulator, RealtimeSttValidatesItsInput) {
  auto bad = open_ws("/v1/speech-to-text/realtime?model_id=nope&audio_format=ulaw_8000");
  auto msgs = read_all(*bad);
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(elevenlabs::codec::parse_realtime_message(msgs.front()).message_type, "invalid_request");
  EXPECT_EQ(bad->close_code(), 1008);

  auto ws = open_ws("/v1/speech-to-text/realtime?model_id=scribe_v2_realtime&audio_format=ulaw_8000");
  auto first = read_all(*ws, [](const std::string&) { return true; });
  ASSERT_EQ(first.size(), 1u);
  auto started = json::parse(first[0]).as_object();
  EXPECT_EQ(started.at("message_type").as_string(), "session_started");
  EXPECT_EQ(started.at("config").as_object().at("sample_rate").as_int64(), 8000);
  send(*ws, elevenlabs::codec::realtime_audio_chunk("//8=", false, 16000));  // wrong rate
  auto err = read_all(*ws, [](const std::string&) { return true; });
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(elevenlabs::codec::parse_realtime_message(err[0]).message_type, "input_error");
  Emulator::get().io().run([&]() -> asio::awaitable<bool> {
    ws->close();
    co_return true;
  });
}

}  // namespace
}  // namespace vox::test
