#pragma once
// The voice catalogs behind the control API's /voices: ElevenLabs' voice library (the
// list cached for five minutes) or the embedded espeak-ng voices.
#include <chrono>
#include <memory>
#include <mutex>

#include "api/control.hpp"
#include "elevenlabs/rest_client.hpp"
#include "speech/speech.hpp"

namespace vox::app {

class EmbeddedVoices final : public api::VoiceCatalog {
 public:
  explicit EmbeddedVoices(const speech::TextToSpeech& tts) : tts_(tts) {}
  boost::asio::awaitable<std::vector<Voice>> list() override;
  boost::asio::awaitable<bool> exists(std::string voice_id) override;

 private:
  const speech::TextToSpeech& tts_;
};

class ElevenLabsVoices final : public api::VoiceCatalog {
 public:
  ElevenLabsVoices(net::HttpClient& http, elevenlabs::Settings config) : rest_(http, std::move(config)) {}
  boost::asio::awaitable<std::vector<Voice>> list() override;
  boost::asio::awaitable<bool> exists(std::string voice_id) override;

 private:
  elevenlabs::RestClient rest_;
  std::mutex mu_;
  std::vector<Voice> cached_;
  std::chrono::steady_clock::time_point fetched_{};
};

}  // namespace vox::app
