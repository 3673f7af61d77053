#pragma once
// The ElevenLabs REST API (voices, models, subscription, text to speech, speech to
// text) over the shared pooled HTTPS client. Errors arrive as ApiError.
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>
#include <vector>

#include "elevenlabs/types.hpp"
#include "net/client.hpp"

namespace vox::elevenlabs {

class RestClient {
 public:
  RestClient(net::HttpClient& http, Settings config);

  boost::asio::awaitable<std::vector<Voice>> voices();                        // GET /v1/voices
  boost::asio::awaitable<VoicesPage> voices_page(VoicesQuery query);          // GET /v2/voices
  boost::asio::awaitable<std::vector<Voice>> all_voices();                    // every /v2 page
  boost::asio::awaitable<Voice> voice(std::string voice_id);                  // GET /v1/voices/{id}
  boost::asio::awaitable<VoiceSettings> voice_settings(std::string voice_id);  // GET /v1/voices/{id}/settings
  boost::asio::awaitable<VoiceSettings> default_voice_settings();     // GET /v1/voices/settings/default
  boost::asio::awaitable<std::vector<Model>> models();                        // GET /v1/models
  boost::asio::awaitable<Subscription> subscription();                        // GET /v1/user/subscription

  // POST /v1/text-to-speech/{voice}: the whole audio file.
  boost::asio::awaitable<std::string> text_to_speech(std::string text, TtsOptions options);
  // POST .../stream: audio bytes handed to `on_audio` as they arrive; return false to stop.
  boost::asio::awaitable<void> text_to_speech_stream(std::string text, TtsOptions options,
                                                     std::function<bool(std::string_view)> on_audio);
  // POST .../with-timestamps: audio and alignment in one object.
  boost::asio::awaitable<TimedAudio> text_to_speech_timed(std::string text, TtsOptions options);
  // POST .../stream/with-timestamps: newline-delimited objects, each handed to `on_piece`.
  boost::asio::awaitable<void> text_to_speech_timed_stream(std::string text, TtsOptions options,
                                                           std::function<bool(TimedAudio&)> on_piece);
  // POST /v1/speech-to-text (multipart).
  boost::asio::awaitable<Transcript> speech_to_text(std::string audio, SttOptions options);

  const Settings& config() const { return config_; }

  // The URL of an API path on the configured base (exposed for tests).
  std::string url(std::string_view path_and_query) const;

 private:
  net::ClientRequest request(std::string method, std::string path_and_query) const;
  net::ClientRequest tts_request(std::string_view suffix, std::string_view text, TtsOptions options) const;
  // Sends (streaming the 2xx body to `on_data` when given); throws ApiError; nullopt when
  // `on_data` stopped the transfer.
  boost::asio::awaitable<std::optional<net::HttpResponse>> call(net::ClientRequest request,
                                                               std::function<bool(std::string_view)> on_data = {});
  std::string tts_path(std::string_view suffix, const TtsOptions& o) const;
  boost::asio::awaitable<std::string> get_json(std::string path_and_query);

  net::HttpClient& http_;
  Settings config_;
};

using net::url_encode;

}  // namespace vox::elevenlabs
