#include "app/commands/port_file.hpp"
#include "app/commands/serve_until_signal.hpp"
#include "app/commands/tools.hpp"
#include "core/json_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "app/engines.hpp"
#include "audio/formats.hpp"
#include "audio/g711.hpp"
#include "elevenlabs/rest_client.hpp"
#include "net/server.hpp"
#include "sim/elevenlabs_emulator.hpp"
#include "speech/tts_cache.hpp"

namespace vox::app {
namespace asio = boost::asio;

namespace {
// Answers every transcription with the same text at once (load tests: the real
// provider's recognition runs on its machines, not on the gateway's).
class FixedStt final : public speech::SpeechToText {
 public:
  explicit FixedStt(std::string text) : text_(std::move(text)) {}
  void transcribe(speech::SttRequest, std::function<void(speech::SttResult)> done) override {
    speech::SttResult r;
    r.ok = true;
    r.text = text_;
    done(std::move(r));
  }
  std::string name() const override { return "fixed"; }

 private:
  std::string text_;
};
}  // namespace

int run_emulate_elevenlabs(const EmulateElevenLabsOptions& o) {
  speech::EspeakSettings ts;
  ts.voice = o.voice;
  speech::EspeakTts espeak(ts);
  std::optional<speech::CachingTts> cached;
  if (o.tts_cache_mb > 0) cached.emplace(espeak, speech::TtsCacheOptions{static_cast<std::size_t>(o.tts_cache_mb) << 20});
  speech::TextToSpeech& tts = cached ? static_cast<speech::TextToSpeech&>(*cached) : espeak;
  speech::SphinxSettings ss;
  ss.mode = o.stt_grammar.empty() ? "lm" : "grammar";
  ss.grammar_file = o.stt_grammar;
  std::optional<speech::PocketsphinxStt> sphinx;
  std::optional<FixedStt> fixed;
  if (o.stt_fixed_text.empty()) sphinx.emplace(ss, std::vector<std::string>{}, std::max(1, o.threads));
  else fixed.emplace(o.stt_fixed_text);
  speech::SpeechToText& stt = fixed ? static_cast<speech::SpeechToText&>(*fixed) : *sphinx;
  asio::io_context ioc(o.threads);
  sim::ElevenLabsEmulatorOptions eo;
  eo.api_keys = o.api_keys;
  eo.espeak_voice = o.voice;
  eo.ttfb_ms = o.ttfb_ms;
  eo.chunk_interval_ms = o.chunk_interval_ms;
  eo.stt_delay_ms = o.stt_delay_ms;
  eo.max_concurrent = o.max_concurrent;
  sim::ElevenLabsEmulator emulator(ioc, eo, tts, stt);
  net::Router router;
  emulator.add_routes(router);
  std::optional<net::ServerTls> tls;
  if (!o.tls_cert.empty()) tls = net::ServerTls{o.tls_cert, o.tls_key};
  net::ServerLimits limits;
  limits.max_http_body = 64u << 20;
  net::Server server(ioc, std::move(router), limits, tls);
  const auto port = server.listen(o.host, static_cast<std::uint16_t>(o.port));
  spdlog::info("ElevenLabs emulator listening on {}://{}:{} (stt={}, tts cache={} MB, keys={})", tls ? "https" : "http",
               o.host, port, fixed ? "fixed" : ss.mode, o.tts_cache_mb, o.api_keys.size());
  serve_until_signal(ioc, server, o.threads, [&] { write_port_file(o.port_file, port); });
  return 0;
}

namespace {
// Runs `f` (a coroutine) on a private io_context and returns its result.
template <typename F>
auto run_sync(asio::io_context& ioc, F f) {
  auto fut = asio::co_spawn(ioc, std::move(f), asio::use_future);
  ioc.run();
  return fut.get();
}

// The format --format names, or the output file's extension names; "" when neither does.
std::string format_for(const SayOptions& o) {
  if (!o.format.empty()) return o.format;
  const auto name = std::filesystem::path(o.out).filename().string();
  const auto dot = name.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : name.substr(dot + 1);
  if (ext == "mp3" || ext == "wav") return ext;
  if (ext == "ulaw" || ext == "ul" || ext == "raw") return "ulaw";
  return "";
}
}  // namespace

int run_say(const ServerConfig& config, const SayOptions& o) {
  const std::string fmt = format_for(o);
  if (fmt.empty()) {
    std::cerr << "voxbridge say: cannot tell the audio format from '" << o.out
              << "': name the file .mp3, .wav or .ulaw, or give --format mp3|wav|ulaw\n";
    return 2;
  }
  if (fmt != "mp3" && fmt != "wav" && fmt != "ulaw") {
    std::cerr << "voxbridge say: unknown format '" << fmt << "' (use mp3, wav or ulaw)\n";
    return 2;
  }
  if (o.text.find_first_not_of(" \t\r\n") == std::string::npos) {
    std::cerr << "voxbridge say: nothing to say: give the text to speak, e.g. voxbridge say \"Hello\" -o hello.wav\n";
    return 2;
  }
  std::vector<std::uint8_t> bytes;
  asio::io_context ioc;
  if (!config.elevenlabs.api_key.empty()) {
    // ElevenLabs renders the requested format itself; WAV comes as PCM and gets a header here.
    net::HttpClientOptions ho;
    ho.tls.ca_file = config.elevenlabs.ca_file;
    net::HttpClient http(ioc.get_executor(), ho);
    elevenlabs::RestClient rest(http, config.elevenlabs);
    elevenlabs::TtsOptions t;
    t.voice_id = o.voice;
    t.output_format = fmt == "mp3" ? "mp3_44100_128" : fmt == "wav" ? "pcm_22050" : "ulaw_8000";
    std::cerr << "say: ElevenLabs " << config.elevenlabs.tts_model << " voice "
              << (o.voice.empty() ? config.elevenlabs.voice_id : o.voice) << " -> " << t.output_format << "\n";
    std::string audio;
    try {
      audio = run_sync(ioc, [&]() -> asio::awaitable<std::string> { co_return co_await rest.text_to_speech(o.text, t); });
    } catch (const std::exception& e) {
      std::cerr << "voxbridge say: " << e.what() << "\n";
      return 1;
    }
    bytes.assign(audio.begin(), audio.end());
    if (fmt == "wav") {
      std::vector<std::int16_t> pcm(bytes.size() / 2);
      std::memcpy(pcm.data(), bytes.data(), pcm.size() * 2);
      bytes = audio::encode_audio(pcm, 22050, *audio::parse_output_format("wav_22050"));
    }
  } else {
    std::cerr << "say: embedded espeak-ng voice " << (o.voice.empty() ? config.espeak.voice : o.voice)
              << " (set ELEVENLABS_API_KEY to use ElevenLabs)\n";
    speech::EspeakSettings es = config.espeak;
    es.strict_voice = true;  // a voice that does not exist is an error here, not a fallback
    speech::EspeakTts tts(es);
    std::string error;
    const auto ulaw = tts.synthesize_blocking(o.text, o.voice, &error);
    if (!error.empty()) {
      std::cerr << "voxbridge say: " << error << "\n";
      return 2;
    }
    if (ulaw.empty()) {
      std::cerr << "voxbridge say: espeak-ng produced no audio for that text\n";
      return 1;
    }
    if (fmt == "ulaw") {
      bytes = ulaw;
    } else {
      std::vector<std::int16_t> pcm(ulaw.size());
      audio::ulaw_decode(ulaw, pcm);
      bytes = audio::encode_audio(pcm, 8000, *audio::parse_output_format(fmt == "mp3" ? "mp3_22050_32" : "wav_8000"));
    }
  }
  std::ofstream out(o.out, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::cerr << "voxbridge say: cannot write " << o.out << "\n";
    return 1;
  }
  std::cerr << "say: wrote " << bytes.size() << " bytes (" << fmt << ") to " << o.out << "\n";
  return 0;
}

int run_voices(const ServerConfig& config, bool as_json) {
  namespace json = boost::json;
  json::array arr;
  if (!config.elevenlabs.api_key.empty()) {
    asio::io_context ioc;
    net::HttpClientOptions ho;
    ho.tls.ca_file = config.elevenlabs.ca_file;
    net::HttpClient http(ioc.get_executor(), ho);
    elevenlabs::RestClient rest(http, config.elevenlabs);
    std::vector<elevenlabs::Voice> voices;
    try {
      voices = run_sync(ioc, [&]() -> asio::awaitable<std::vector<elevenlabs::Voice>> { co_return co_await rest.all_voices(); });
    } catch (const std::exception& e) {
      std::cerr << "voxbridge voices: " << e.what() << "\n";
      return 1;
    }
    for (const auto& v : voices) arr.push_back(json::object{{"voice_id", v.voice_id}, {"name", v.name}, {"category", v.category}});
  } else {
    speech::EspeakTts tts(config.espeak);
    for (const auto& v : tts.voices()) arr.push_back(json::object{{"voice_id", v.voice_id}, {"name", v.name}, {"category", v.category}});
  }
  if (as_json) {
    std::cout << vox::json_text(arr) << "\n";
    return 0;
  }
  for (const auto& v : arr) {
    const auto& o = v.as_object();
    std::cout << o.at("voice_id").as_string().c_str() << "\t" << o.at("name").as_string().c_str() << "\t"
              << o.at("category").as_string().c_str() << "\n";
  }
  return 0;
}

}  // namespace vox::app
