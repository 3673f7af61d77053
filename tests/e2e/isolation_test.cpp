// A slow disk must not slow a call: with every call-store read and commit taking 500 ms,
// and the control API reading the store all the time, a call on the same (single)
// network thread keeps its media on time and hears its replies without gaps.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "e2e_support.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {
using namespace std::chrono_literals;

// The value of a counter in /metrics (0 when absent).
double metric(const ServerProcess& s, const std::string& name) {
  const auto body = http("GET", s.url() + "/metrics").body;
  const auto at = body.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stod(body.substr(at + name.size() + 2));
}

TEST(Isolation, ASlowStoreDoesNotDelayAnotherCallsMedia) {
  static const std::string grammar = write_server_grammar("vox-e2e-isolation-grammar.txt");
  TempDir dir;
  ServerProcess server({"--threads", "1", "--store-delay-ms", "500", "--store", (dir.path / "calls.db").string(),
                        "--stt-mode", "grammar", "--stt-grammar", grammar, "--greeting", kGreeting, "--tts-voice",
                        kVoice});
  // Readers of the store, all the time the call runs.
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i)
    readers.emplace_back([&] {
      while (!done) {
        const auto res = http("GET", server.url() + "/api/v1/elevenlabs-twilio/calls?limit=5");
        if (res.status == 200) ++reads;
      }
    });
  sim::CallerOptions o;
  o.server_url = server.url();
  o.lines = {"good morning", "please call me back"};
  o.voice = kVoice;
  auto results = sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 1);
  done = true;
  for (auto& t : readers) t.join();
  ASSERT_EQ(results.size(), 1u);
  const auto& r = results[0];
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log_tail();
  EXPECT_GE(reads.load(), 4) << "the store readers did not run alongside the call";
  // One store read on a network thread would hold that thread for 500 ms: 25 frames of
  // this call late or missing per read, and there were at least 4 reads. A frame or two
  // late is a busy test machine (tests run in parallel under the sanitizers), not the store.
  EXPECT_LT(r.reply_gap_frames, 10u) << "the call's replies broke up while the store was slow";
  EXPECT_LT(metric(server, "voxbridge_media_messages_in_late_total"), 10.0)
      << "the call's media waited behind the store";
  ASSERT_EQ(r.turns.size(), 2u);
  for (const auto& t : r.turns) EXPECT_LT(t.reply_latency_ms, 2500) << t.said;
}

}  // namespace
}  // namespace vox::test
