#pragma once
// `voxbridge transcribe FILE.wav`: what the embedded recognizer (pocketsphinx) hears in a
// recording, the same engine a call without ElevenLabs uses. For checking audio by ear
// without ears: recordings, a browser test's captured sound, a synthesized prompt.
#include <string>

namespace CLI {
class App;
}

namespace vox::app {

struct TranscribeOptions {
  std::string file;
  std::string grammar;  // phrase list: recognise only these phrases (deterministic tests)
  bool json = false;
};

// Adds the command to `app`; returns it (check ->parsed()).
CLI::App* add_transcribe_command(CLI::App& app, TranscribeOptions& options);
int run_transcribe(const TranscribeOptions& options);

}  // namespace vox::app
