#include "app/commands/transcribe.hpp"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <future>
#include <iostream>

#include "audio/g711.hpp"
#include "audio/resampler.hpp"
#include "audio/wav.hpp"
#include "speech/sphinx_stt.hpp"

namespace vox::app {

CLI::App* add_transcribe_command(CLI::App& app, TranscribeOptions& o) {
  auto* cmd = app.add_subcommand("transcribe",
                                 "Print what the embedded recognizer (pocketsphinx) hears in a WAV file (PCM16 or "
                                 "μ-law, any rate)");
  cmd->add_option("file", o.file, "The WAV file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--grammar", o.grammar, "Recognise only the phrases in this file (one per line)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", o.json, "Print {\"text\": ..., \"seconds\": ...}");
  cmd->footer("Example:\n  voxbridge say \"Hello there\" -o hello.wav && voxbridge transcribe hello.wav");
  return cmd;
}

int run_transcribe(const TranscribeOptions& o) {
  auto wav = audio::read_wav(o.file);
  if (!wav) {
    std::cerr << "voxbridge transcribe: " << o.file << " is not a PCM16 or μ-law WAV file\n";
    return 2;
  }
  std::vector<std::int16_t> pcm = wav->sample_rate == 8000
                                      ? std::move(wav->samples)
                                      : audio::resample(wav->samples, wav->sample_rate, 8000);
  speech::SttRequest req;
  req.ulaw_8k.resize(pcm.size());
  audio::ulaw_encode(pcm, req.ulaw_8k);
  speech::SphinxSettings settings;
  if (!o.grammar.empty()) {
    settings.mode = "grammar";
    settings.grammar_file = o.grammar;
  }
  speech::SttResult result;
  try {
    speech::PocketsphinxStt stt(settings, {}, 1);
    std::promise<speech::SttResult> done;
    auto got = done.get_future();
    stt.transcribe(std::move(req), [&done](speech::SttResult r) { done.set_value(std::move(r)); });
    result = got.get();
  } catch (const std::exception& e) {
    std::cerr << "voxbridge transcribe: " << e.what() << "\n";
    return 1;
  }
  if (!result.ok) {
    std::cerr << "voxbridge transcribe: recognition failed: " << result.error << "\n";
    return 1;
  }
  const double seconds = static_cast<double>(pcm.size()) / 8000.0;
  if (o.json)
    std::cout << boost::json::serialize(boost::json::object{{"text", result.text}, {"seconds", seconds}}) << "\n";
  else
    std::cout << result.text << "\n";
  return 0;
}

}  // namespace vox::app
