// The command line as a newcomer meets it: --version, the files --help cites, and
// `say`'s errors (an unknown format, an unknown voice, nothing to say), against the
// real binary.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e_support.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {

struct Run {
  int code = -1;
  std::string output;
};

// Runs `voxbridge ARGS` in `dir` to its end (at most 60 s); stdout and stderr together.
Run run(const TempDir& dir, const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  const std::string out = (dir.path / "cli.out").string();
  // (The test's own Twilio settings never reach the command.)
  const pid_t pid = spawn_voxbridge(args, env, dir.path, out, [](std::string_view v) { return v.starts_with("TWILIO_"); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  Run r;
  for (;;) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "voxbridge did not exit within 60 s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the child's exit, bounded
  }
  std::ifstream in(out);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

TEST(Cli, VersionPrintsTheVersionAndExitsZero) {
  TempDir dir;
  const auto r = run(dir, {"--version"});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(^voxbridge [0-9]+\.[0-9]+\.[0-9]+\s*$)"))) << r.output;
}

// Every examples/ file a --help text names exists in the repository.
TEST(Cli, TheFilesTheHelpCitesExist) {
  TempDir dir;
  const std::filesystem::path repo = std::filesystem::path(VOX_TEST_DATA).parent_path().parent_path();
  std::set<std::string> cited;
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"--help"}, {"serve", "--help"}, {"talk", "--help"}, {"call", "--help"},
        {"say", "--help"}, {"loadtest", "--help"}, {"sim", "caller", "--help"}, {"emulate", "twilio", "--help"},
        {"emulate", "elevenlabs", "--help"}, {"emulate", "openai", "--help"}}) {
    const auto r = run(dir, cmd);
    EXPECT_EQ(r.code, 0) << r.output;
    const std::regex path(R"(examples/[A-Za-z0-9_./-]*[A-Za-z0-9_])");
    for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), path); it != std::sregex_iterator(); ++it)
      cited.insert(it->str());
  }
  EXPECT_FALSE(cited.empty()) << "the talk help cites example scenarios";
  for (const auto& p : cited) EXPECT_TRUE(std::filesystem::exists(repo / p)) << p << " is cited by --help";
}

TEST(Cli, SayRefusesWhatItCannotDoWithAClearError) {
  TempDir dir;
  const auto ogg = run(dir, {"say", "Hello", "-o", (dir.path / "x.ogg").string()});
  EXPECT_EQ(ogg.code, 2) << ogg.output;
  EXPECT_NE(ogg.output.find("cannot tell the audio format"), std::string::npos) << ogg.output;
  EXPECT_FALSE(std::filesystem::exists(dir.path / "x.ogg"));

  const auto voice = run(dir, {"say", "Hello", "-o", (dir.path / "v.wav").string(), "--voice", "nope"});
  EXPECT_EQ(voice.code, 2) << voice.output;
  EXPECT_NE(voice.output.find("espeak-ng has no voice 'nope'"), std::string::npos) << voice.output;
  EXPECT_FALSE(std::filesystem::exists(dir.path / "v.wav"));

  const auto empty = run(dir, {"say", "  ", "-o", (dir.path / "y.wav").string()});
  EXPECT_EQ(empty.code, 2) << empty.output;
  EXPECT_NE(empty.output.find("nothing to say"), std::string::npos) << empty.output;
  EXPECT_FALSE(std::filesystem::exists(dir.path / "y.wav"));

  // What works still works: a WAV file with a RIFF header and audio.
  const auto ok = run(dir, {"say", "Hello there", "-o", (dir.path / "ok.wav").string(), "--voice", "en-us"});
  EXPECT_EQ(ok.code, 0) << ok.output;
  std::ifstream wav(dir.path / "ok.wav", std::ios::binary);
  std::string head(4, '\0');
  wav.read(head.data(), 4);
  EXPECT_EQ(head, "RIFF");
  EXPECT_GT(std::filesystem::file_size(dir.path / "ok.wav"), 4000u);
}

// `call` without a caller id says which flag or variable gives one, before any request.
TEST(Cli, CallWithoutACallerIdSaysHowToGiveOne) {
  TempDir dir;
  const auto r = run(dir, {"call", "--to", "+15550009999", "--server-url", "http://127.0.0.1:9"},
                     {"TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000", "TWILIO_AUTH_TOKEN=t",
                      "TWILIO_BASE_URL=http://127.0.0.1:9"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("no caller id: give --from or set TWILIO_PHONE_NUMBER"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace vox::test
