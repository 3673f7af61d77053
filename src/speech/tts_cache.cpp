#include "speech/tts_cache.hpp"

#include "core/hash.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace vox::speech {
namespace fs = std::filesystem;

namespace {

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
bool get(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}
constexpr std::uint32_t kMagic = 0x31435856;  // "VXC1"
}  // namespace

struct CachingTts::Store {
  struct Entry {
    std::vector<std::uint8_t> audio;
    std::vector<WordTiming> words;
  };
  using Lru = std::list<std::pair<std::string, std::shared_ptr<const Entry>>>;

  TtsCacheOptions opt_;
  mutable std::mutex mu_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> index_;
  TtsCacheStats stats_;

  std::shared_ptr<const Entry> lookup_memory(const std::string& key);
  // The disk half of a lookup (slow: off the network threads); counts the hit or miss.
  std::shared_ptr<const Entry> lookup_disk(const std::string& key);
  bool has_disk() const { return !opt_.dir.empty(); }
  void insert(const std::string& key, std::shared_ptr<const Entry> entry);
  void insert_memory(const std::string& key, std::shared_ptr<const Entry> entry);
  std::shared_ptr<const Entry> read_disk(const std::string& key);
  void write_disk(const std::string& key, const Entry& entry);
};

CachingTts::CachingTts(TextToSpeech& inner, TtsCacheOptions options, BlockingPool* blocking)
    : inner_(inner), store_(std::make_shared<Store>()), blocking_(blocking) {
  auto& opt_ = store_->opt_;
  opt_ = std::move(options);
  if (!opt_.dir.empty()) {
    std::error_code ec;
    fs::create_directories(opt_.dir, ec);
    if (ec) {
      spdlog::warn("tts cache: cannot create {} ({}); disk cache off", opt_.dir, ec.message());
      opt_.dir.clear();
    }
  }
}

std::string CachingTts::key(const TtsRequest& r) const {
  char settings[160];
  std::snprintf(settings, sizeof settings, "%.3f|%.3f|%.3f|%d|%.3f", r.settings.stability, r.settings.similarity_boost,
                r.settings.style, r.settings.use_speaker_boost ? 1 : 0, r.settings.speed);
  return sha256_hex(inner_.cache_identity() + "\x1f" + r.voice_id + "\x1f" + settings + "\x1f" + r.text);
}

namespace {

// Delivers a cached entry through the callbacks (on the calling thread).
template <typename Entry>
void deliver(const Entry& hit, TtsCallbacks& callbacks) {
  if (callbacks.on_request_id) callbacks.on_request_id("cache");
  if (callbacks.on_word)
    for (const auto& w : hit.words) callbacks.on_word(w);
  if (callbacks.on_audio && !hit.audio.empty()) callbacks.on_audio(hit.audio);
  if (callbacks.on_done) callbacks.on_done(std::nullopt);
}

// A token handed out before the synthesis it cancels exists (the disk is asked first).
class DeferredToken final : public CancelToken {
 public:
  void cancel() override {
    CancelToken::cancel();
    std::lock_guard lock(mu_);
    if (inner_) inner_->cancel();
  }
  void set(std::shared_ptr<CancelToken> inner) {
    std::lock_guard lock(mu_);
    inner_ = std::move(inner);
    if (cancelled() && inner_) inner_->cancel();
  }

 private:
  std::mutex mu_;
  std::shared_ptr<CancelToken> inner_;
};

}  // namespace

std::shared_ptr<CancelToken> CachingTts::synthesize(TtsRequest request, TtsCallbacks callbacks) {
  if (request.text.size() > store_->opt_.max_text_chars) return inner_.synthesize(std::move(request), std::move(callbacks));
  const std::string k = key(request);
  if (auto hit = store_->lookup_memory(k)) {
    // Delivered right here: the caller posts callbacks to its own strand.
    deliver(*hit, callbacks);
    return std::make_shared<CancelToken>();
  }
  if (!store_->has_disk()) {
    {
      std::lock_guard lock(store_->mu_);
      ++store_->stats_.misses;
    }
    return synthesize_and_keep(k, std::move(request), std::move(callbacks));
  }
  // The disk is asked off this thread; a miss there goes on to the engine from the worker.
  auto token = std::make_shared<DeferredToken>();
  auto ask = [this, store = store_, token, k, request = std::move(request), callbacks = std::move(callbacks)]() mutable {
    if (token->cancelled()) {
      if (callbacks.on_done) callbacks.on_done(std::nullopt);
      return;
    }
    if (auto hit = store->lookup_disk(k)) {
      deliver(*hit, callbacks);
      return;
    }
    token->set(synthesize_and_keep(k, std::move(request), std::move(callbacks)));
  };
  if (blocking_) blocking_->post(std::move(ask));
  else ask();
  return token;
}

std::shared_ptr<CancelToken> CachingTts::synthesize_and_keep(const std::string& k, TtsRequest request,
                                                             TtsCallbacks callbacks) {
  struct Collect {
    Store::Entry entry;
    std::mutex mu;  // token is set after synthesize() returns, maybe after on_done ran
    std::shared_ptr<CancelToken> token;
    std::atomic<bool> degraded{false};
  };
  auto collect = std::make_shared<Collect>();
  TtsCallbacks wrapped;
  wrapped.on_audio = [collect, f = callbacks.on_audio](std::span<const std::uint8_t> a) {
    collect->entry.audio.insert(collect->entry.audio.end(), a.begin(), a.end());
    if (f) f(a);
  };
  wrapped.on_word = [collect, f = callbacks.on_word](const WordTiming& w) {
    collect->entry.words.push_back(w);
    if (f) f(w);
  };
  wrapped.on_request_id = callbacks.on_request_id;
  wrapped.on_degraded = [collect, f = callbacks.on_degraded](const std::string& why) {
    collect->degraded = true;  // substitute audio is not what this key should give
    if (f) f(why);
  };
  wrapped.on_done = [store = store_, blocking = blocking_, collect, k, f = callbacks.on_done](std::optional<std::string> error) {
    // Only complete, uncancelled, successful audio is worth keeping.
    bool cancelled;
    {
      std::lock_guard lock(collect->mu);
      cancelled = collect->token && collect->token->cancelled();
    }
    if (!error && !cancelled && !collect->degraded && !collect->entry.audio.empty()) {
      auto entry = std::make_shared<const Store::Entry>(std::move(collect->entry));
      store->insert(k, entry);
      // The file is written off the engine's thread (the directory may be slow).
      if (store->has_disk()) {
        if (blocking) blocking->post([store, k, entry] { store->write_disk(k, *entry); });
        else store->write_disk(k, *entry);
      }
    }
    if (f) f(std::move(error));
  };
  auto token = inner_.synthesize(std::move(request), std::move(wrapped));
  std::lock_guard lock(collect->mu);
  collect->token = token;
  return token;
}

void CachingTts::prewarm(const std::vector<std::string>& phrases, const std::string& voice) {
  for (const auto& p : phrases) {
    if (p.empty()) continue;
    TtsRequest r;
    r.text = p;
    r.voice_id = voice;
    if (store_->lookup_memory(key(r))) continue;
    TtsCallbacks cb;
    cb.on_done = [p](std::optional<std::string> error) {
      if (error) spdlog::warn("tts cache: pre-warming \"{}\" failed: {}", p, *error);
      else spdlog::info("tts cache: pre-warmed \"{}\"", p);
    };
    synthesize(std::move(r), std::move(cb));
  }
}

std::shared_ptr<const CachingTts::Store::Entry> CachingTts::Store::lookup_memory(const std::string& k) {
  std::lock_guard lock(mu_);
  auto it = index_.find(k);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->second;
}

std::shared_ptr<const CachingTts::Store::Entry> CachingTts::Store::lookup_disk(const std::string& k) {
  if (auto e = read_disk(k)) {
    std::lock_guard lock(mu_);
    ++stats_.hits;
    ++stats_.disk_hits;
    insert_memory(k, e);
    return e;
  }
  std::lock_guard lock(mu_);
  ++stats_.misses;
  return nullptr;
}

void CachingTts::Store::insert(const std::string& k, std::shared_ptr<const Entry> e) {
  std::lock_guard lock(mu_);
  ++stats_.stores;
  insert_memory(k, std::move(e));
}

void CachingTts::Store::insert_memory(const std::string& k, std::shared_ptr<const Entry> e) {
  if (e->audio.size() > opt_.memory_bytes) return;
  if (auto it = index_.find(k); it != index_.end()) {
    stats_.memory_bytes -= it->second->second->audio.size();
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.emplace_front(k, e);
  index_[k] = lru_.begin();
  stats_.memory_bytes += e->audio.size();
  while (stats_.memory_bytes > opt_.memory_bytes && !lru_.empty()) {
    auto& last = lru_.back();
    stats_.memory_bytes -= last.second->audio.size();
    index_.erase(last.first);
    lru_.pop_back();
    ++stats_.evictions;
  }
  stats_.entries = lru_.size();
}

std::shared_ptr<const CachingTts::Store::Entry> CachingTts::Store::read_disk(const std::string& k) {
  if (opt_.dir.empty()) return nullptr;
  std::ifstream in(fs::path(opt_.dir) / (k + ".vxc"), std::ios::binary);
  if (!in) return nullptr;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string_view v(data);
  std::uint32_t magic = 0, words = 0, audio = 0;
  if (!get(v, magic) || magic != kMagic || !get(v, words)) return nullptr;
  auto e = std::make_shared<Entry>();
  for (std::uint32_t i = 0; i < words; ++i) {
    std::uint32_t len = 0;
    std::int32_t start = 0;
    if (!get(v, len) || v.size() < len) return nullptr;
    std::string w(v.substr(0, len));
    v.remove_prefix(len);
    if (!get(v, start)) return nullptr;
    e->words.push_back({std::move(w), start});
  }
  if (!get(v, audio) || v.size() != audio) return nullptr;
  e->audio.assign(v.begin(), v.end());
  std::error_code ec;
  fs::last_write_time(fs::path(opt_.dir) / (k + ".vxc"), fs::file_time_type::clock::now(), ec);  // LRU on disk
  return e;
}

void CachingTts::Store::write_disk(const std::string& k, const Entry& e) {
  if (opt_.dir.empty() || e.audio.size() > opt_.disk_bytes) return;
  std::string data;
  put(data, kMagic);
  put(data, static_cast<std::uint32_t>(e.words.size()));
  for (const auto& w : e.words) {
    put(data, static_cast<std::uint32_t>(w.word.size()));
    data += w.word;
    put(data, static_cast<std::int32_t>(w.start_ms));
  }
  put(data, static_cast<std::uint32_t>(e.audio.size()));
  data.append(reinterpret_cast<const char*>(e.audio.data()), e.audio.size());
  const auto path = fs::path(opt_.dir) / (k + ".vxc");
  static std::atomic<std::uint64_t> counter{0};
  const auto tmp = fs::path(opt_.dir) / (k + "." + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) return;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  // Bound the directory: drop the least recently used files.
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  std::uintmax_t total = 0;
  for (const auto& f : fs::directory_iterator(opt_.dir, ec)) {
    if (f.path().extension() != ".vxc") continue;
    total += f.file_size(ec);
    files.emplace_back(f.last_write_time(ec), f.path());
  }
  if (total <= opt_.disk_bytes) return;
  std::sort(files.begin(), files.end());
  for (const auto& [t, p] : files) {
    if (total <= opt_.disk_bytes) break;
    if (p == path) continue;  // never the entry just written (coarse timestamps tie)
    const auto size = fs::file_size(p, ec);
    if (fs::remove(p, ec)) total -= size;
  }
}

TtsCacheStats CachingTts::stats() const {
  std::lock_guard lock(store_->mu_);
  return store_->stats_;
}

}  // namespace vox::speech
