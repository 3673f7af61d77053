#pragma once
// Builds the speech engines from the configuration: ElevenLabs when an API key is set
// (with the embedded engines as fallbacks), else the embedded espeak-ng and
// pocketsphinx; a TTS cache in front. Shared by `serve`, `say` and `voices`.
#include <boost/asio/io_context.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "app/config.hpp"
#include "core/blocking.hpp"
#include "elevenlabs/types.hpp"
#include "net/client.hpp"
#include "speech/elevenlabs_stt.hpp"
#include "speech/elevenlabs_tts.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/fallback_stt.hpp"
#include "speech/sphinx_stt.hpp"
#include "speech/tts_cache.hpp"

namespace vox::app {

struct Engines {
  std::unique_ptr<speech::EspeakTts> espeak;
  std::unique_ptr<speech::PocketsphinxStt> sphinx;
  std::unique_ptr<net::HttpClient> http;
  // Shared by ElevenLabs' TTS and STT: after a network failure both go to the embedded
  // engines for a while (elevenlabs::Settings::breaker_ms), then probe.
  std::unique_ptr<Breaker> elevenlabs_breaker;
  std::unique_ptr<speech::ElevenLabsTts> elevenlabs_tts;
  std::unique_ptr<speech::ElevenLabsStt> elevenlabs_stt;
  std::unique_ptr<speech::FallbackStt> fallback_stt;
  std::unique_ptr<speech::CachingTts> cache;
  speech::TextToSpeech* tts = nullptr;  // what calls use
  speech::SpeechToText* stt = nullptr;

  // Closes the providers' open sockets (warm TTS sockets); calls and requests in flight
  // end with errors their callers handle. For shutdown.
  void close();

  // Provider health ("ok", "checking" or the problem).
  std::map<std::string, std::string> status() const;
  void set_status(const std::string& provider, const std::string& state);

  ~Engines();

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> status_;
};

// `stt_workers` embedded recognisers; `with_stt` false skips loading them (say/voices).
// The TTS cache does its disk work on `blocking` (null: in place).
std::unique_ptr<Engines> build_engines(const ServerConfig& config, boost::asio::io_context& ioc, int stt_workers,
                                       bool with_stt = true, BlockingPool* blocking = nullptr);

// Checks the ElevenLabs key once (GET /v1/user/subscription) and records the result;
// a rejected key is logged with what to do about it. Runs in the background.
void check_elevenlabs(Engines& engines, const elevenlabs::Settings& settings, boost::asio::io_context& ioc);

}  // namespace vox::app
