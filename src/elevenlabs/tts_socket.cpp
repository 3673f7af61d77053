#include "elevenlabs/tts_socket.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "core/spawn.hpp"
#include "elevenlabs/codec.hpp"
#include "elevenlabs/rest_client.hpp"

namespace vox::elevenlabs {
namespace asio = boost::asio;

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto push = [&] {
    const auto b = cur.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) {
      cur.clear();
      return;
    }
    const auto e = cur.find_last_not_of(" \t\r\n");
    out.push_back(cur.substr(b, e - b + 1) + " ");
    cur.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    cur += text[i];
    const char c = text[i];
    const bool end_mark = c == '.' || c == '!' || c == '?';
    if (end_mark && (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\n')) push();
  }
  push();
  return out;
}

TtsSocket::TtsSocket(std::shared_ptr<net::WsClient> ws, TtsSocketKey key, std::string url)
    : ws_(std::move(ws)), key_(std::move(key)), url_(std::move(url)) {}

TtsSocket::~TtsSocket() = default;

asio::awaitable<std::shared_ptr<TtsSocket>> TtsSocket::connect(const Settings& config, TtsSocketKey key) {
  std::string url = config.ws_base();
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/v1/text-to-speech/" + url_encode(key.voice_id) + "/multi-stream-input?model_id=" + url_encode(key.model_id) +
         "&output_format=" + url_encode(key.output_format) +
         "&inactivity_timeout=" + std::to_string(config.inactivity_timeout_s) + "&sync_alignment=true";
  if (!key.language_code.empty()) url += "&language_code=" + url_encode(key.language_code);
  std::shared_ptr<net::WsClient> ws;
  net::Headers headers;
  headers.emplace_back("xi-api-key", config.api_key);
  net::TlsOptions tls;
  tls.ca_file = config.ca_file;
  try {
    ws = co_await net::WsClient::connect(url, std::move(headers), std::move(tls), std::chrono::seconds(5));
  } catch (const net::TransportError& e) {
    const std::string what = e.what();
    int status = 0;
    if (auto p = what.find("(HTTP "); p != std::string::npos) status = std::atoi(what.c_str() + p + 6);
    ApiError::Kind kind = ApiError::Kind::kTransport;
    if (status == 401 || status == 403) kind = ApiError::Kind::kAuth;
    else if (status == 429) kind = ApiError::Kind::kRateLimited;
    else if (status >= 500) kind = ApiError::Kind::kServer;
    else if (status >= 400) kind = ApiError::Kind::kInvalid;
    throw api_error(kind, status, "websocket", "ElevenLabs TTS socket: " + what);
  }
  std::shared_ptr<TtsSocket> s(new TtsSocket(ws, std::move(key), url.substr(0, url.find('?'))));
  vox::spawn(ws->executor(), [s]() { return s->read_loop(); }, "ElevenLabs TTS socket reader");
  co_return s;
}

asio::awaitable<void> TtsSocket::read_loop() {
  auto self = shared_from_this();
  for (;;) {
    auto msg = co_await ws_->read();
    if (!msg) break;
    TtsSocketMessage m;
    try {
      m = codec::parse_tts_socket_message(*msg);
    } catch (const std::exception& e) {
      spdlog::warn("elevenlabs tts socket: unreadable message ({}); ignored", e.what());
      continue;
    }
    auto it = listeners_.find(m.context_id);
    if (it == listeners_.end() && m.context_id.empty() && listeners_.size() == 1) it = listeners_.begin();
    if (!m.error.empty()) {
      spdlog::warn("elevenlabs tts socket error context={} error={}", m.context_id, m.error);
      if (it != listeners_.end()) {
        auto l = std::move(it->second);
        listeners_.erase(it);
        --active_;
        if (l.on_error) l.on_error(m.error);
      }
      continue;
    }
    if (it == listeners_.end()) continue;  // a closed context: late audio is dropped
    if (!m.audio.empty() && it->second.on_audio) it->second.on_audio(m);
    if (m.is_final) {
      auto l = std::move(it->second);
      listeners_.erase(it);
      --active_;
      if (l.on_final) l.on_final();
    }
  }
  alive_ = false;
  std::string why = "ElevenLabs TTS socket closed";
  if (ws_->close_code()) why += " (" + std::to_string(ws_->close_code()) + " " + ws_->close_reason() + ")";
  fail_all(why);
}

void TtsSocket::fail_all(const std::string& why) {
  auto ls = std::move(listeners_);
  listeners_.clear();
  active_ = 0;
  for (auto& [id, l] : ls)
    if (l.on_error) l.on_error(why);
}

bool TtsSocket::try_reserve(int max) {
  int n = active_.load();
  while (n < max && alive_.load())
    if (active_.compare_exchange_weak(n, n + 1)) return true;
  return false;
}

void TtsSocket::abort() {
  alive_ = false;
  asio::post(ws_->executor(), [self = shared_from_this()] { self->ws_->abort(); });
}

void TtsSocket::start_context(std::string context_id, std::optional<VoiceSettings> settings,
                              std::vector<int> chunk_schedule, Listener listener) {
  asio::post(ws_->executor(), [self = shared_from_this(), id = std::move(context_id), settings,
                               schedule = std::move(chunk_schedule), l = std::move(listener)]() mutable {
    if (!self->alive_) {
      --self->active_;
      if (l.on_error) l.on_error("ElevenLabs TTS socket closed");
      return;
    }
    self->listeners_[id] = std::move(l);
    self->ws_->send(codec::tts_socket_init(id, settings, schedule));
  });
}

void TtsSocket::send_text(std::string context_id, std::string text, bool flush) {
  asio::post(ws_->executor(), [self = shared_from_this(), id = std::move(context_id), t = std::move(text), flush] {
    if (self->alive_) self->ws_->send(codec::tts_socket_text(id, t, flush));
  });
}

void TtsSocket::close_context(std::string context_id) {
  asio::post(ws_->executor(), [self = shared_from_this(), id = std::move(context_id)] {
    if (self->listeners_.erase(id)) --self->active_;
    if (self->alive_) self->ws_->send(codec::tts_socket_close_context(id));
  });
}

void TtsSocket::close() {
  asio::post(ws_->executor(), [self = shared_from_this()] {
    if (!self->alive_) return;
    self->ws_->send(R"({"close_socket":true})");
    self->ws_->close();
  });
}

}  // namespace vox::elevenlabs
