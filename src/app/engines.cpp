#include "app/engines.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <spdlog/spdlog.h>

#include "core/spawn.hpp"
#include "elevenlabs/rest_client.hpp"

namespace vox::app {
namespace asio = boost::asio;

Engines::~Engines() {
  // Engines that talk to the network go first; the fallbacks they use outlive them.
  cache.reset();
  elevenlabs_tts.reset();
  fallback_stt.reset();
  elevenlabs_stt.reset();
  http.reset();
}

std::map<std::string, std::string> Engines::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void Engines::set_status(const std::string& provider, const std::string& state) {
  std::lock_guard lock(mu_);
  status_[provider] = state;
}

void Engines::close() {
  if (elevenlabs_tts) elevenlabs_tts->close();
}

std::unique_ptr<Engines> build_engines(const ServerConfig& config, asio::io_context& ioc, int stt_workers, bool with_stt,
                                       BlockingPool* blocking) {
  auto e = std::make_unique<Engines>();
  e->espeak = std::make_unique<speech::EspeakTts>(config.espeak);
  speech::TextToSpeech* tts = e->espeak.get();
  const bool eleven = !config.elevenlabs.api_key.empty();
  if (with_stt) {
    // With ElevenLabs, pocketsphinx is only the last resort: one worker.
    e->sphinx = std::make_unique<speech::PocketsphinxStt>(config.sphinx, std::vector<std::string>{}, eleven ? 1 : stt_workers);
    e->stt = e->sphinx.get();
  }
  if (eleven) {
    net::HttpClientOptions ho;
    ho.tls.ca_file = config.elevenlabs.ca_file;
    ho.read_timeout = std::chrono::seconds(10);
    e->http = std::make_unique<net::HttpClient>(ioc.get_executor(), ho);
    const auto& ec = config.elevenlabs;
    Engines* self = e.get();
    const int down_ms = ec.breaker_ms;
    e->elevenlabs_breaker = std::make_unique<Breaker>(
        Breaker::Settings{std::chrono::milliseconds(ec.breaker_ms)}, [self, down_ms](bool open, const std::string& why) {
          if (open) {
            self->set_status("elevenlabs", "unreachable: " + why);
            spdlog::warn("elevenlabs: unreachable ({}); the embedded engines speak and listen for the next {} ms, then "
                         "one request tries ElevenLabs again",
                         why, down_ms);
          } else {
            self->set_status("elevenlabs", "ok");
            spdlog::info("elevenlabs: reachable again");
          }
        });
    e->elevenlabs_tts =
        std::make_unique<speech::ElevenLabsTts>(ioc, *e->http, ec, e->espeak.get(), e->elevenlabs_breaker.get());
    tts = e->elevenlabs_tts.get();
    if (with_stt) {
      e->elevenlabs_stt = std::make_unique<speech::ElevenLabsStt>(ioc, *e->http, ec, e->elevenlabs_breaker.get());
      e->fallback_stt = std::make_unique<speech::FallbackStt>(*e->elevenlabs_stt, *e->sphinx);
      e->stt = e->fallback_stt.get();
    }
    e->set_status("elevenlabs", "checking");
  }
  if (config.tts_cache.enabled) {
    speech::TtsCacheOptions co;
    co.memory_bytes = config.tts_cache.memory_mb << 20;
    co.dir = config.tts_cache.dir;
    co.disk_bytes = config.tts_cache.disk_mb << 20;
    e->cache = std::make_unique<speech::CachingTts>(*tts, co, blocking);
    tts = e->cache.get();
  }
  e->tts = tts;
  return e;
}

void check_elevenlabs(Engines& engines, const elevenlabs::Settings& settings, asio::io_context& ioc) {
  if (settings.api_key.empty() || !engines.http) return;
  auto* e = &engines;
  auto cfg = settings;
  vox::spawn(ioc, [e, cfg]() -> asio::awaitable<void> {
    elevenlabs::RestClient rest(*e->http, cfg);
    try {
      auto sub = co_await rest.subscription();
      e->set_status("elevenlabs", "ok");
      spdlog::info("elevenlabs: key accepted (tier={} characters used {}/{})", sub.tier, sub.character_count,
                   sub.character_limit);
    } catch (const elevenlabs::ApiError& err) {
      if (err.code == "missing_permissions") {
        e->set_status("elevenlabs", "ok");
        spdlog::info("elevenlabs: key accepted (it may not read subscription details: {})", err.what());
      } else if (err.kind == elevenlabs::ApiError::Kind::kAuth) {
        e->set_status("elevenlabs", "rejected API key: " + std::string(err.what()));
        spdlog::error("elevenlabs: the API key was rejected ({}). Check ELEVENLABS_API_KEY; until then replies are "
                      "spoken by the embedded engine.", err.what());
      } else if (err.kind == elevenlabs::ApiError::Kind::kQuota) {
        e->set_status("elevenlabs", "quota exceeded: " + std::string(err.what()));
        spdlog::error("elevenlabs: quota exceeded ({}); replies fall back to the embedded engine", err.what());
      } else {
        e->set_status("elevenlabs", "unreachable: " + std::string(err.what()));
        spdlog::warn("elevenlabs: health check failed ({}); calls will retry and fall back as needed", err.what());
      }
    } catch (const std::exception& err) {
      e->set_status("elevenlabs", std::string("error: ") + err.what());
    }
  }, "ElevenLabs key check");
}

}  // namespace vox::app
