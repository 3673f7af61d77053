// `voxbridge say` and `voxbridge voices`, with the embedded engine and against the
// ElevenLabs emulator binary.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "audio/mp3.hpp"
#include "audio/wav.hpp"
#include "e2e_support.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {

struct Run {
  int code = -1;
  std::string output;
};

// Runs the binary with `args` (and `env` assignments) through the shell; returns its
// exit code and combined output.
Run run_tool(const std::string& env, const std::string& args) {
  const auto out = std::filesystem::temp_directory_path() / ("vox-tool-" + std::to_string(::getpid()) + ".out");
  const std::string cmd = env + " " + voxbridge_binary() + " " + args + " > " + out.string() + " 2>&1";
  Run r;
  const int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::filesystem::remove(out);
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(Tools, SayWithTheEmbeddedEngineWritesMp3WavAndUlaw) {
  const auto dir = std::filesystem::temp_directory_path() / ("vox-say-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string no_key = "env -u ELEVENLABS_API_KEY -u ELEVEN_LABS_API_KEY -u ELEVENLABS_API_KEY_GAL";
  auto mp3 = run_tool(no_key, "say \"good morning\" -o " + (dir / "a.mp3").string() + " --voice " + kVoice);
  ASSERT_EQ(mp3.code, 0) << mp3.output;
  const auto bytes = read_file((dir / "a.mp3").string());
  int rate = 0;
  auto pcm = audio::decode_mp3(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), rate);
  EXPECT_GT(pcm.size(), static_cast<std::size_t>(rate) / 2);  // more than half a second
  auto wav = run_tool(no_key, "say \"good morning\" -o " + (dir / "a.wav").string() + " --voice " + kVoice);
  ASSERT_EQ(wav.code, 0) << wav.output;
  auto w = audio::read_wav((dir / "a.wav").string());
  ASSERT_TRUE(w);
  EXPECT_EQ(w->sample_rate, 8000);
  auto ulaw = run_tool(no_key, "say \"you said good morning\" -o " + (dir / "a.ulaw").string() + " --voice " + kVoice);
  ASSERT_EQ(ulaw.code, 0) << ulaw.output;
  const auto raw = read_file((dir / "a.ulaw").string());
  EXPECT_EQ(normalized(Engines::get().stt.transcribe_blocking(std::vector<std::uint8_t>(raw.begin(), raw.end())).text),
            "you said good morning");
  auto bad = run_tool(no_key, "say hi -o " + (dir / "a.ogg").string() + " --format ogg");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("use mp3, wav or ulaw"), std::string::npos) << bad.output;
  std::filesystem::remove_all(dir);
}

TEST(Tools, SayAndVoicesThroughElevenLabs) {
  ServerProcess emulator({}, {}, "", {"emulate", "elevenlabs"});
  const std::string env = "ELEVENLABS_API_KEY=test-key ELEVENLABS_BASE_URL=" + emulator.url();
  const auto dir = std::filesystem::temp_directory_path() / ("vox-say-el-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto r = run_tool(env, "say \"thank you very much\" -o " + (dir / "b.mp3").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("mp3_44100_128"), std::string::npos) << r.output;
  const auto bytes = read_file((dir / "b.mp3").string());
  int rate = 0;
  auto pcm = audio::decode_mp3(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), rate);
  EXPECT_EQ(rate, 44100);
  EXPECT_GT(pcm.size(), 44100u / 2);
  auto v = run_tool(env, "voices --json");
  ASSERT_EQ(v.code, 0) << v.output;
  auto arr = boost::json::parse(v.output).as_array();
  ASSERT_EQ(arr.size(), 4u);
  EXPECT_EQ(arr[0].as_object().at("voice_id").as_string(), "21m00Tcm4TlvDq8ikWAM");
  auto wrong = run_tool("ELEVENLABS_API_KEY=nope ELEVENLABS_BASE_URL=" + emulator.url(), "voices");
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.output.find("invalid_api_key"), std::string::npos) << wrong.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vox::test
