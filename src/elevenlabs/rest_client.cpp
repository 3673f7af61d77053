#include "elevenlabs/rest_client.hpp"

#include <random>

#include "core/breaker.hpp"
#include "elevenlabs/codec.hpp"
#include "net/http_types.hpp"

namespace vox::elevenlabs {
namespace asio = boost::asio;

void trip_on_slow_failure(Breaker* breaker, const std::exception& e) {
  if (!breaker) return;
  bool slow = false;
  if (const auto* t = dynamic_cast<const net::TransportError*>(&e)) slow = t->kind == net::TransportError::Kind::kTimeout;
  if (const auto* p = dynamic_cast<const ProviderError*>(&e)) slow = p->kind == ProviderError::Kind::kTransport && p->code == "timeout";
  if (slow) breaker->failed(e.what());
}

std::string Settings::ws_base() const { return net::websocket_url(base_url); }

RestClient::RestClient(net::HttpClient& http, Settings config) : http_(http), config_(std::move(config)) {
  while (!config_.base_url.empty() && config_.base_url.back() == '/') config_.base_url.pop_back();
}

std::string RestClient::url(std::string_view path_and_query) const { return config_.base_url + std::string(path_and_query); }

net::ClientRequest RestClient::request(std::string method, std::string path_and_query) const {
  net::ClientRequest r;
  r.method = std::move(method);
  r.url = url(path_and_query);
  r.headers.emplace_back("xi-api-key", config_.api_key);
  r.headers.emplace_back("accept", "application/json");
  return r;
}

asio::awaitable<std::optional<net::HttpResponse>> RestClient::call(
    net::ClientRequest req, std::function<bool(std::string_view)> on_data) {
  net::HttpResponse res;
  std::optional<net::TransportError> failed;
  try {
    if (on_data) res = co_await http_.send_streaming(std::move(req), std::move(on_data));
    else res = co_await http_.send(std::move(req));
  } catch (const net::TransportError& e) {
    failed = e;
  }
  if (failed) {
    if (failed->kind == net::TransportError::Kind::kCancelled) co_return std::nullopt;  // the caller stopped reading
    // (code "timeout": no answer in time, which the callers' breaker counts; a refused or
    // reset connection fails fast and does not need it.)
    throw api_error(ApiError::Kind::kTransport, 0,
                    failed->kind == net::TransportError::Kind::kTimeout ? "timeout" : "transport",
                    std::string("ElevenLabs unreachable: ") + failed->what());
  }
  if (res.status / 100 != 2) throw codec::parse_error(res.status, res.body);
  co_return res;
}

asio::awaitable<std::string> RestClient::get_json(std::string path_and_query) {
  auto res = co_await call(request("GET", std::move(path_and_query)));
  co_return std::move(res->body);
}

asio::awaitable<std::vector<Voice>> RestClient::voices() {
  const std::string body = co_await get_json("/v1/voices");
  co_return codec::parse_voices_v1(body);
}

asio::awaitable<VoicesPage> RestClient::voices_page(VoicesQuery q) {
  std::string path = "/v2/voices?page_size=" + std::to_string(q.page_size);
  if (!q.next_page_token.empty()) path += "&next_page_token=" + url_encode(q.next_page_token);
  if (!q.search.empty()) path += "&search=" + url_encode(q.search);
  if (!q.sort.empty()) path += "&sort=" + url_encode(q.sort);
  if (!q.sort_direction.empty()) path += "&sort_direction=" + url_encode(q.sort_direction);
  if (!q.voice_type.empty()) path += "&voice_type=" + url_encode(q.voice_type);
  if (!q.category.empty()) path += "&category=" + url_encode(q.category);
  if (q.include_total_count) path += "&include_total_count=true";
  const std::string body = co_await get_json(std::move(path));
  co_return codec::parse_voices_v2(body);
}

asio::awaitable<std::vector<Voice>> RestClient::all_voices() {
  std::vector<Voice> out;
  VoicesQuery q;
  for (int page = 0; page < 100; ++page) {
    auto p = co_await voices_page(q);
    for (auto& v : p.voices) out.push_back(std::move(v));
    if (!p.has_more || p.next_page_token.empty()) break;
    q.next_page_token = p.next_page_token;
  }
  co_return out;
}

asio::awaitable<Voice> RestClient::voice(std::string voice_id) {
  const std::string body = co_await get_json("/v1/voices/" + url_encode(voice_id));
  co_return codec::parse_voice(body);
}

asio::awaitable<VoiceSettings> RestClient::voice_settings(std::string voice_id) {
  const std::string body = co_await get_json("/v1/voices/" + url_encode(voice_id) + "/settings");
  co_return codec::parse_voice_settings(body);
}

asio::awaitable<VoiceSettings> RestClient::default_voice_settings() {
  const std::string body = co_await get_json("/v1/voices/settings/default");
  co_return codec::parse_voice_settings(body);
}

asio::awaitable<std::vector<Model>> RestClient::models() { const std::string body = co_await get_json("/v1/models");
  co_return codec::parse_models(body); }

asio::awaitable<Subscription> RestClient::subscription() {
  const std::string body = co_await get_json("/v1/user/subscription");
  co_return codec::parse_subscription(body);
}

std::string RestClient::tts_path(std::string_view suffix, const TtsOptions& o) const {
  std::string path = "/v1/text-to-speech/" + url_encode(o.voice_id.empty() ? config_.voice_id : o.voice_id);
  path += suffix;
  path += "?output_format=" + url_encode(o.output_format);
  if (o.optimize_streaming_latency) path += "&optimize_streaming_latency=" + std::to_string(*o.optimize_streaming_latency);
  return path;
}

namespace {
TtsOptions with_defaults(TtsOptions o, const Settings& c) {
  if (o.model_id.empty()) o.model_id = c.tts_model;
  if (o.language_code.empty()) o.language_code = c.language;
  if (!o.optimize_streaming_latency) o.optimize_streaming_latency = c.optimize_streaming_latency;
  return o;
}
}  // namespace

net::ClientRequest RestClient::tts_request(std::string_view suffix, std::string_view text, TtsOptions options) const {
  options = with_defaults(std::move(options), config_);
  auto req = request("POST", tts_path(suffix, options));
  if (suffix.find("with-timestamps") == std::string_view::npos) req.headers.back() = {"accept", "*/*"};
  req.headers.emplace_back("content-type", "application/json");
  req.body = codec::tts_body(text, options);
  req.retry_safe = true;
  // A streamed reply in progress must not hang on a silent provider.
  // Within a call the fallback engine waits on it: every attempt together gets 6 s.
  if (suffix.rfind("/stream", 0) == 0) {
    req.read_timeout = std::chrono::seconds(4);
    req.budget = std::chrono::seconds(6);
  }
  return req;
}

asio::awaitable<std::string> RestClient::text_to_speech(std::string text, TtsOptions options) {
  auto res = co_await call(tts_request("", text, std::move(options)));
  co_return std::move(res->body);
}

asio::awaitable<void> RestClient::text_to_speech_stream(std::string text, TtsOptions options,
                                                        std::function<bool(std::string_view)> on_audio) {
  co_await call(tts_request("/stream", text, std::move(options)), std::move(on_audio));
}

asio::awaitable<TimedAudio> RestClient::text_to_speech_timed(std::string text, TtsOptions options) {
  auto res = co_await call(tts_request("/with-timestamps", text, std::move(options)));
  co_return codec::parse_timed_audio(res->body);
}

asio::awaitable<void> RestClient::text_to_speech_timed_stream(std::string text, TtsOptions options,
                                                              std::function<bool(TimedAudio&)> on_piece) {
  std::string pending;
  bool stop = false;
  auto on_data = [&](std::string_view data) {
    pending.append(data);
    if (pending.size() > (8u << 20)) throw std::runtime_error("ElevenLabs sent a line over 8 MiB");
    std::size_t pos;
    while ((pos = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, pos);
      pending.erase(0, pos + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      TimedAudio piece = codec::parse_timed_audio(line);
      if (!on_piece(piece)) {
        stop = true;
        return false;
      }
    }
    return true;
  };
  auto res = co_await call(tts_request("/stream/with-timestamps", text, std::move(options)), on_data);
  if (res && !stop && pending.find_first_not_of(" \r\n\t") != std::string::npos) {
    TimedAudio piece = codec::parse_timed_audio(pending);
    on_piece(piece);
  }
}

asio::awaitable<Transcript> RestClient::speech_to_text(std::string audio, SttOptions options) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string boundary = "voxbridge-" + std::to_string(rng());
  std::string body;
  auto field = [&](std::string_view name, std::string_view value) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + std::string(name) + "\"\r\n\r\n";
    body += value;
    body += "\r\n";
  };
  field("model_id", options.model_id.empty() ? config_.stt_model : options.model_id);
  const std::string lang = options.language_code.empty() ? config_.language : options.language_code;
  if (!lang.empty()) field("language_code", lang);
  field("file_format", options.file_format);
  field("tag_audio_events", options.tag_audio_events ? "true" : "false");
  field("timestamps_granularity", "word");
  body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + options.filename +
          "\"\r\nContent-Type: " + options.file_content_type + "\r\n\r\n";
  body += audio;
  body += "\r\n--" + boundary + "--\r\n";
  auto req = request("POST", "/v1/speech-to-text");
  req.headers.emplace_back("content-type", "multipart/form-data; boundary=" + boundary);
  req.body = std::move(body);
  req.retry_safe = true;
  auto res = co_await call(std::move(req));
  co_return codec::parse_transcript(res->body);
}

}  // namespace vox::elevenlabs
