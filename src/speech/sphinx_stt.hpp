#pragma once
// Embedded STT: pocketsphinx with the en-us model. 8 kHz μ-law utterances are
// upsampled to 16 kHz. Language-model mode by default; grammar mode recognises only
// the given phrases (JSGF), which is far more accurate for scripted calls.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "speech/speech.hpp"

namespace vox::speech {

struct SphinxSettings {
  std::string mode = "lm";  // lm (open vocabulary) | grammar (phrases only)
  std::string grammar_file;  // phrase list, one per line (grammar mode)
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";
};

class PocketsphinxStt final : public SpeechToText {
 public:
  // `phrases` (grammar mode) overrides settings.grammar_file when non-empty.
  // `workers` decoders run in parallel (each holds its own model copy, ~40 MB).
  PocketsphinxStt(const SphinxSettings& settings, std::vector<std::string> phrases = {}, int workers = 2);
  ~PocketsphinxStt() override;

  void transcribe(SttRequest request, std::function<void(SttResult)> done) override;
  std::string name() const override { return "pocketsphinx"; }

  // Transcribes on the calling thread's behalf (blocks). For tools and tests.
  SttResult transcribe_blocking(std::vector<std::uint8_t> ulaw_8k);

  // Returns `text` lower-cased with punctuation removed and spaces collapsed (the
  // form transcripts and grammar phrases are compared in).
  static std::string normalize(std::string_view text);
  // Reads a phrase list: one phrase per line, blank lines and # comments skipped.
  static std::vector<std::string> read_phrases(const std::string& path);

 private:
  struct Job {
    SttRequest request;
    std::function<void(SttResult)> done;
  };
  void run();
  void remove_dictionary();

  SphinxSettings settings_;
  std::string jsgf_;
  // Grammar mode: a dictionary of only the phrases' words (a temporary file, removed with
  // this object), so each decoder loads in milliseconds instead of reading 130,000 words.
  std::string dict_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vox::speech
