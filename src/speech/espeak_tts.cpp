#include "speech/espeak_tts.hpp"

#include <espeak-ng/speak_lib.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <stdexcept>

#include "audio/g711.hpp"
#include "audio/resampler.hpp"

namespace vox::speech {
namespace {

// State of the synthesis in progress, reached from espeak's callback via user_data.
struct SynthState {
  const TtsCallbacks* callbacks;
  CancelToken* token;
  const std::string* text;
  audio::Resampler* resampler;
  std::vector<std::int16_t> pcm8k;
  std::vector<std::uint8_t> ulaw;
};

// Returns the byte offset of the `chars`-th UTF-8 code point of `s`.
std::size_t byte_offset(const std::string& s, int chars) {
  std::size_t i = 0;
  for (int c = 0; i < s.size() && c < chars; ++c) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  }
  return i;
}

void emit(SynthState& st, std::span<const std::int16_t> pcm) {
  if (pcm.empty()) return;
  std::size_t n = st.resampler->process(pcm, st.pcm8k);
  if (n == 0) return;
  audio::ulaw_encode(std::span<const std::int16_t>(st.pcm8k.data(), n), st.ulaw);
  st.callbacks->on_audio(std::span<const std::uint8_t>(st.ulaw.data(), n));
}

int synth_callback(short* wav, int numsamples, espeak_EVENT* events) {
  if (!events) return 0;
  auto* st = static_cast<SynthState*>(events->user_data);
  if (!st) return 0;
  if (st->token->cancelled()) return 1;  // abort synthesis
  for (espeak_EVENT* e = events; e->type != espeakEVENT_LIST_TERMINATED; ++e) {
    if (e->type == espeakEVENT_WORD && st->callbacks->on_word) {
      const std::size_t b = byte_offset(*st->text, e->text_position - 1);
      const std::size_t end = byte_offset(*st->text, e->text_position - 1 + e->length);
      if (b < st->text->size()) st->callbacks->on_word(WordTiming{st->text->substr(b, end - b), e->audio_position});
    }
  }
  if (wav && numsamples > 0) {
    std::size_t off = 0;
    const std::size_t total = static_cast<std::size_t>(numsamples);
    while (off < total) {
      const std::size_t n = std::min<std::size_t>(total - off, 4096);
      emit(*st, std::span<const std::int16_t>(wav + off, n));
      off += n;
    }
  }
  return 0;
}

}  // namespace

namespace {

// The process's one espeak-ng instance and the thread that owns it.
class Worker {
 public:
  struct Job {
    const void* owner;
    EspeakSettings settings;
    TtsRequest request;
    TtsCallbacks callbacks;
    std::shared_ptr<CancelToken> token;
  };

  // Returns the worker, starting it (and espeak-ng) on first use; throws if espeak-ng cannot start.
  static Worker& get() {
    static Worker w;
    if (w.sample_rate_ <= 0) throw std::runtime_error("espeak-ng failed to initialise (is espeak-ng-data installed?)");
    return w;
  }

  void submit(Job job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_all();
  }

  // Drops `owner`'s queued jobs and waits until none of its jobs is running.
  void forget(const void* owner) {
    std::unique_lock lock(mu_);
    for (auto& j : jobs_)
      if (j.owner == owner) j.token->cancel();
    std::erase_if(jobs_, [owner](const Job& j) { return j.owner == owner; });
    cv_.wait(lock, [&] { return running_owner_ != owner; });
  }

 private:
  Worker() {
    std::promise<int> ready;
    auto fut = ready.get_future();
    thread_ = std::thread([this, &ready] {
      const int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 100, nullptr, espeakINITIALIZE_DONT_EXIT);
      if (rate > 0) espeak_SetSynthCallback(synth_callback);
      ready.set_value(rate);
      if (rate > 0) run();
    });
    sample_rate_ = fut.get();
  }

  ~Worker() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void run() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        running_owner_ = job.owner;
      }
      synth_one(job);
      // The job's callbacks (which hold their caller's executors) are destroyed while the
      // job still counts as running: forget() waits for that, so nothing of a caller that
      // has gone (its io_context) is touched afterwards from this thread.
      job = Job{};
      {
        std::lock_guard lock(mu_);
        running_owner_ = nullptr;
      }
      cv_.notify_all();
    }
  }

  void synth_one(Job& job) {
    if (job.token->cancelled() || job.request.text.empty()) {
      if (job.callbacks.on_done) job.callbacks.on_done(std::nullopt);
      return;
    }
    const EspeakSettings& s = job.settings;
    const std::string& voice = job.request.voice_id.empty() ? s.voice : job.request.voice_id;
    if (s.strict_voice && espeak_SetVoiceByName(voice.c_str()) != EE_OK) {
      if (job.callbacks.on_done)
        job.callbacks.on_done("espeak-ng has no voice '" + voice + "' (list them with `espeak-ng --voices`)");
      return;
    }
    if (espeak_SetVoiceByName(voice.c_str()) != EE_OK && espeak_SetVoiceByName(s.voice.c_str()) != EE_OK) {
      if (voice_warned_.insert(voice).second) spdlog::warn("espeak-ng voice '{}' not found; using 'en'", voice);
      espeak_SetVoiceByName("en");
    }
    const int rate = static_cast<int>(s.rate_wpm * std::clamp(job.request.settings.speed, 0.5, 2.0));
    espeak_SetParameter(espeakRATE, rate, 0);

    audio::Resampler resampler(sample_rate_, 8000);
    SynthState st{&job.callbacks, job.token.get(), &job.request.text, &resampler, {}, {}};
    st.pcm8k.resize(resampler.max_output(4096));
    st.ulaw.resize(st.pcm8k.size());
    // espeak-ng draws on libc's rand() for some of its waveform; a fixed seed per
    // utterance keeps the same text sounding the same.
    std::srand(1);
    const espeak_ERROR err = espeak_Synth(job.request.text.c_str(), job.request.text.size() + 1, 0, POS_CHARACTER, 0,
                                          espeakCHARS_UTF8, nullptr, &st);
    std::optional<std::string> error;
    if (err != EE_OK) {
      error = "espeak-ng synthesis failed (code " + std::to_string(static_cast<int>(err)) + ")";
    } else if (!job.token->cancelled()) {
      std::vector<std::int16_t> tail(resampler.max_output(0) + 512);
      const std::size_t n = resampler.flush(tail);
      if (n > 0) {
        audio::ulaw_encode(std::span<const std::int16_t>(tail.data(), n), st.ulaw);
        job.callbacks.on_audio(std::span<const std::uint8_t>(st.ulaw.data(), std::min(n, st.ulaw.size())));
      }
    }
    if (job.callbacks.on_done) job.callbacks.on_done(error);
  }

  int sample_rate_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  const void* running_owner_ = nullptr;
  bool stop_ = false;
  std::set<std::string> voice_warned_;
  std::thread thread_;
};

}  // namespace

EspeakTts::EspeakTts(const EspeakSettings& settings) : settings_(settings) { Worker::get(); }

EspeakTts::~EspeakTts() { Worker::get().forget(this); }

std::shared_ptr<CancelToken> EspeakTts::synthesize(TtsRequest request, TtsCallbacks callbacks) {
  auto token = std::make_shared<CancelToken>();
  Worker::get().submit(Worker::Job{this, settings_, std::move(request), std::move(callbacks), token});
  return token;
}

std::vector<VoiceInfo> EspeakTts::voices() const {
  std::vector<VoiceInfo> out;
  out.push_back({"en-us", "espeak-ng English (US)", "embedded", "Built-in voice, no account needed"});
  out.push_back({"en-us+Alex", "espeak-ng English (US), steady pitch", "embedded", "Built-in voice; repeats exactly"});
  out.push_back({"en", "espeak-ng English (GB)", "embedded", "Built-in voice, no account needed"});
  out.push_back({"es", "espeak-ng Spanish", "embedded", "Built-in voice, no account needed"});
  return out;
}

std::vector<std::uint8_t> EspeakTts::synthesize_blocking(const std::string& text, const std::string& voice,
                                                         std::string* error) {
  std::vector<std::uint8_t> out;
  std::promise<void> done;
  auto fut = done.get_future();
  TtsCallbacks cb;
  cb.on_audio = [&out](std::span<const std::uint8_t> a) { out.insert(out.end(), a.begin(), a.end()); };
  cb.on_done = [&done, error](std::optional<std::string> e) {
    if (error) *error = e.value_or("");
    done.set_value();
  };
  synthesize(TtsRequest{text, voice, {}}, std::move(cb));
  fut.wait();
  return out;
}

}  // namespace vox::speech
