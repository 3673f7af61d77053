#include "speech/sphinx_stt.hpp"

#include <ckd_alloc.h>
#include <pocketsphinx.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <stdexcept>

#include "audio/g711.hpp"
#include "audio/resampler.hpp"

namespace vox::speech {
namespace {

struct Decoder {
  ps_decoder_t* ps = nullptr;
  cmd_ln_t* config = nullptr;
  ~Decoder() {
    if (ps) ps_free(ps);
    if (config) cmd_ln_free_r(config);
  }
};

// `dict_file` empty: the full dictionary and the language model (open vocabulary); else
// that dictionary and no language model (the phrase grammar is the only search).
std::unique_ptr<Decoder> make_decoder(const SphinxSettings& s, const std::string& jsgf, const std::string& dict_file) {
  auto d = std::make_unique<Decoder>();
  const std::string hmm = s.model_dir + "/en-us";
  const std::string lm = s.model_dir + "/en-us.lm.bin";
  const std::string dict = dict_file.empty() ? s.model_dir + "/cmudict-en-us.dict" : dict_file;
  d->config = cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", hmm.c_str(), "-lm", lm.c_str(), "-dict", dict.c_str(),
                          "-logfn", "/dev/null", "-samprate", "16000",
                          // Batch CMN: normalise over the utterance itself, so a result does not
                          // depend on what the decoder heard before (live CMN adapts across utterances).
                          "-cmn", "batch",
                          // Noise removal and silence removal adapt across utterances, which makes a
                          // result depend on earlier calls; our VAD already picked the speech.
                          "-remove_noise", "no", "-remove_silence", "no", nullptr);
  if (!d->config) throw std::runtime_error("pocketsphinx: bad configuration (model dir " + s.model_dir + ")");
  if (!dict_file.empty()) cmd_ln_set_str_r(d->config, "-lm", nullptr);
  d->ps = ps_init(d->config);
  if (!d->ps) throw std::runtime_error("pocketsphinx: cannot load the model from " + s.model_dir);
  if (!jsgf.empty()) {
    if (ps_set_jsgf_string(d->ps, "phrases", jsgf.c_str()) != 0 || ps_set_search(d->ps, "phrases") != 0)
      throw std::runtime_error("pocketsphinx: the phrase grammar was rejected");
  }
  return d;
}

SttResult decode(Decoder& d, const std::vector<std::uint8_t>& ulaw) {
  SttResult r;
  if (ulaw.empty()) {
    r.ok = true;
    return r;
  }
  std::vector<std::int16_t> pcm8(ulaw.size());
  audio::ulaw_decode(ulaw, pcm8);
  const auto pcm16 = audio::resample(pcm8, 8000, 16000);
  if (ps_start_utt(d.ps) < 0) {
    r.error = "pocketsphinx: cannot start an utterance";
    return r;
  }
  ps_process_raw(d.ps, pcm16.data(), pcm16.size(), FALSE, TRUE);
  ps_end_utt(d.ps);
  std::int32_t score = 0;
  const char* hyp = ps_get_hyp(d.ps, &score);
  r.ok = true;
  r.text = hyp ? hyp : "";
  return r;
}

// Writes the entries of `words` (and their alternate pronunciations, "word(2)") from the
// dictionary at `full` to a new temporary file; returns its path.
std::string write_small_dictionary(const std::string& full, const std::set<std::string>& words) {
  std::ifstream in(full);
  if (!in) throw std::runtime_error("pocketsphinx: cannot read the dictionary " + full);
  static std::atomic<int> counter{0};
  const auto path = (std::filesystem::temp_directory_path() /
                     ("voxbridge-dict-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".dict"))
                        .string();
  std::ofstream out(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto end = line.find_first_of(" \t(");
    if (end != std::string::npos && words.count(line.substr(0, end))) out << line << "\n";
  }
  if (!out) throw std::runtime_error("pocketsphinx: cannot write a dictionary to " + path);
  return path;
}

}  // namespace

std::string PocketsphinxStt::normalize(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '\'') {
      if (space && !out.empty()) out.push_back(' ');
      space = false;
      out.push_back(static_cast<char>(std::tolower(c)));
    } else {
      space = true;
    }
  }
  return out;
}

std::vector<std::string> PocketsphinxStt::read_phrases(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read phrase list " + path);
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    out.push_back(line);
  }
  return out;
}

PocketsphinxStt::PocketsphinxStt(const SphinxSettings& settings, std::vector<std::string> phrases, int workers)
    : settings_(settings) {
  if (phrases.empty() && settings.mode == "grammar") {
    if (settings.grammar_file.empty())
      throw std::runtime_error("STT grammar mode needs a phrase list: set STT_GRAMMAR_FILE or --stt-grammar");
    phrases = read_phrases(settings.grammar_file);
  }
  if (!phrases.empty()) {
    std::set<std::string> words;
    for (const auto& p : phrases) {
      std::istringstream in(normalize(p));
      for (std::string w; in >> w;) words.insert(w);
    }
    dict_ = write_small_dictionary(settings_.model_dir + "/cmudict-en-us.dict", words);
  }
  // Build one decoder up front so a bad model or grammar fails at start-up, not mid-call.
  std::unique_ptr<Decoder> probe;
  try {
    probe = make_decoder(settings_, "", dict_);
  } catch (...) {
    remove_dictionary();
    throw;
  }
  if (!phrases.empty()) {
    // Words the dictionary lacks cannot be recognised (and would make pocketsphinx reject
    // the grammar): drop them from the phrase, with a warning.
    std::set<std::string> unique;
    for (const auto& p : phrases) {
      std::string kept, word;
      std::string n = normalize(p) + " ";
      for (const char c : n) {
        if (c != ' ') {
          word.push_back(c);
          continue;
        }
        if (word.empty()) continue;
        char* phones = ps_lookup_word(probe->ps, word.c_str());
        if (phones) {
          ckd_free(phones);
          if (!kept.empty()) kept += ' ';
          kept += word;
        } else {
          spdlog::warn("pocketsphinx: '{}' is not in the dictionary; dropped from phrase \"{}\"", word, p);
        }
        word.clear();
      }
      if (!kept.empty()) unique.insert(kept);
    }
    if (unique.empty()) {
      remove_dictionary();
      throw std::runtime_error("pocketsphinx: no phrase of the grammar has a known word");
    }
    jsgf_ = "#JSGF V1.0;\ngrammar phrases;\npublic <phrase> = ";
    bool first = true;
    for (const auto& p : unique) {
      if (!first) jsgf_ += " | ";
      first = false;
      jsgf_ += "( " + p + " )";
    }
    jsgf_ += ";\n";
    if (ps_set_jsgf_string(probe->ps, "phrases", jsgf_.c_str()) != 0 || ps_set_search(probe->ps, "phrases") != 0) {
      remove_dictionary();
      throw std::runtime_error("pocketsphinx: the phrase grammar was rejected");
    }
  }
  // The first worker takes the probe decoder; the others load their own.
  for (int i = 0; i < std::max(1, workers); ++i) {
    std::unique_ptr<Decoder> d = i == 0 ? std::move(probe) : nullptr;
    threads_.emplace_back([this, d = std::move(d)]() mutable {
      try {
        if (!d) d = make_decoder(settings_, jsgf_, dict_);
      } catch (const std::exception& e) {
        spdlog::error("pocketsphinx worker failed to start: {}", e.what());
        return;
      }
      for (;;) {
        Job job;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
          if (jobs_.empty()) return;
          job = std::move(jobs_.front());
          jobs_.pop_front();
        }
        SttResult r;
        try {
          r = decode(*d, job.request.ulaw_8k);
        } catch (const std::exception& e) {
          r.ok = false;
          r.error = e.what();
        }
        job.done(std::move(r));
      }
    });
  }
}

PocketsphinxStt::~PocketsphinxStt() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  remove_dictionary();
}

void PocketsphinxStt::remove_dictionary() {
  if (dict_.empty()) return;
  std::error_code ec;
  std::filesystem::remove(dict_, ec);
}

void PocketsphinxStt::transcribe(SttRequest request, std::function<void(SttResult)> done) {
  {
    std::lock_guard lock(mu_);
    if (stop_) {
      done(SttResult{false, "", "speech recognizer is shutting down"});
      return;
    }
    jobs_.push_back(Job{std::move(request), std::move(done)});
  }
  cv_.notify_one();
}

SttResult PocketsphinxStt::transcribe_blocking(std::vector<std::uint8_t> ulaw_8k) {
  std::promise<SttResult> p;
  auto f = p.get_future();
  transcribe(SttRequest{std::move(ulaw_8k), {}}, [&p](SttResult r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace vox::speech
