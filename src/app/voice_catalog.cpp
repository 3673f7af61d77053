#include "app/voice_catalog.hpp"

namespace vox::app {
namespace asio = boost::asio;

asio::awaitable<std::vector<api::VoiceCatalog::Voice>> EmbeddedVoices::list() {
  std::vector<Voice> out;
  for (const auto& v : tts_.voices()) out.push_back(Voice{v.voice_id, v.name, v.category, v.description, {{"engine", "espeak-ng"}}});
  co_return out;
}

asio::awaitable<bool> EmbeddedVoices::exists(std::string voice_id) {
  if (voice_id.empty()) co_return true;
  for (const auto& v : tts_.voices())
    if (v.voice_id == voice_id) co_return true;
  co_return false;
}

asio::awaitable<std::vector<api::VoiceCatalog::Voice>> ElevenLabsVoices::list() {
  {
    std::lock_guard lock(mu_);
    if (!cached_.empty() && std::chrono::steady_clock::now() - fetched_ < std::chrono::minutes(5)) co_return cached_;
  }
  auto voices = co_await rest_.all_voices();
  std::vector<Voice> out;
  for (auto& v : voices) out.push_back(Voice{v.voice_id, v.name, v.category, v.description, v.labels});
  std::lock_guard lock(mu_);
  cached_ = out;
  fetched_ = std::chrono::steady_clock::now();
  co_return out;
}

asio::awaitable<bool> ElevenLabsVoices::exists(std::string voice_id) {
  if (voice_id.empty()) co_return true;
  const auto voices = co_await list();
  for (const auto& v : voices)
    if (v.voice_id == voice_id) co_return true;
  // Not among the account's voices: it may still be a library voice it can use.
  bool found = false;
  try {
    co_await rest_.voice(voice_id);
    found = true;
  } catch (const elevenlabs::ApiError& e) {
    if (e.status != 404 && e.status != 400) throw;
  }
  co_return found;
}

}  // namespace vox::app
