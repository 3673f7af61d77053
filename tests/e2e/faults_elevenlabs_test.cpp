// Network faults between the gateway and ElevenLabs: the fault proxy sits between the
// server binary and the ElevenLabs emulator (TTS sockets, realtime STT, REST all pass
// through it), the simulated Twilio caller talks to the server. A slow link still gives a
// normal conversation; a provider that resets or turns into a black hole mid-call leaves
// the call alive with the embedded engines' speech, nothing stuck or leaked, and once the
// network heals, ElevenLabs speaks again.
#include <gtest/gtest.h>

#include <future>
#include <iostream>

#include "elevenlabs_support.hpp"
#include "faults_support.hpp"

namespace vox::test {
namespace {
using namespace el;
using namespace std::chrono_literals;

// The emulator, a proxy in front of it and a gateway whose ElevenLabs is the proxy.
// (Members in this order: the gateway stops first, the emulator last.)
struct ElevenLabsBehindProxy {
  explicit ElevenLabsBehindProxy(std::vector<std::string> extra = {}) {
    server = std::make_unique<ServerProcess>(
        server_args(std::move(extra)),
        std::vector<std::string>{"ELEVENLABS_API_KEY=test-key", "ELEVENLABS_BASE_URL=" + proxy->url()});
  }
  Emulator emulator;
  std::unique_ptr<FaultProxy> proxy = proxy_to(*emulator.process);
  std::unique_ptr<ServerProcess> server;
};

const char* const kFallbacks = "voxbridge_tts_fallbacks_total";

TEST(Faults, ElevenLabsOverASlowLinkStillConverses) {
  ElevenLabsBehindProxy s({"--tts-cache", "false"});
  ASSERT_TRUE(s.server->wait_for_log("elevenlabs: key accepted")) << s.server->log_tail();
  // 60-90 ms each way, a cap of 4x the μ-law rate, and FINs a second late.
  s.proxy->set(Faults{.latency = 60ms, .jitter = 30ms, .bytes_per_second = 32000, .slow_close = 1000ms});
  const std::vector<std::string> lines = {"good morning", "what time is it"};
  auto r = converse(*s.server, lines);
  expect_heard(r, lines, *s.server);
  EXPECT_EQ(metric(*s.server, kFallbacks), 0) << s.server->log_tail();  // ElevenLabs spoke every reply
  EXPECT_GT(s.proxy->bytes_forwarded(), 16000u);
  EXPECT_EQ(health(*s.server).at("status").as_string(), "healthy");
}

// "reset": every connection to ElevenLabs is reset and new ones are refused;
// "blackhole": connections stay open and nothing comes back.
class ElevenLabsOutage : public ::testing::TestWithParam<const char*> {};

TEST_P(ElevenLabsOutage, MidCallTheEmbeddedEnginesTakeOverAndElevenLabsReturnsAfter) {
  ElevenLabsBehindProxy s({"--tts-cache", "false", "--elevenlabs-breaker-ms", "1000"});
  ASSERT_TRUE(s.server->wait_for_log("elevenlabs: key accepted")) << s.server->log_tail();
  const int fds_before = open_fds(s.server->pid());
  const std::vector<std::string> lines = {"good morning", "what time is it", "thank you very much"};
  // (The outage usually strikes the greeting, whose fallback then comes after the 3 s
  // first-audio watchdog: the caller waits for it rather than talking over it.)
  // (A black hole that strikes the TTS socket's handshake delays the greeting by the
  // handshake timeout plus the REST attempt: up to about 11 s under ThreadSanitizer.)
  auto call = std::async(std::launch::async, [&] { return converse(*s.server, lines, 20000); });
  ASSERT_TRUE(wait_active_calls(*s.server, 1, 30s)) << s.server->log_tail();
  ASSERT_TRUE(s.proxy->wait_accepted(1, 30s));  // the call has its ElevenLabs connections
  if (std::string(GetParam()) == "reset") {
    s.proxy->set(Faults{.reset_new = true});
    s.proxy->reset_all();
  } else {
    s.proxy->set(Faults{.blackhole = true});
  }
  auto r = call.get();
  // Every reply was spoken, each turn in time (the caller waits 20 s at most), and the
  // caller's lines were still understood.
  expect_heard(r, lines, *s.server);
  for (const auto& t : r.turns) std::cout << "  reply latency " << t.reply_latency_ms << " ms\n";
  const double fallbacks = metric(*s.server, kFallbacks);
  EXPECT_GT(fallbacks, 0) << s.server->log_tail();
  EXPECT_TRUE(eventually([&] { return active_calls(*s.server) == 0; }, 10s));  // nothing stuck

  // The network heals: within the next call ElevenLabs speaks again (its first request
  // after the breaker's second probes it; the replies before that may still be the
  // embedded engine's), and /health says so.
  s.proxy->clear();
  const std::vector<std::string> again = {"open the door", "turn off the lights", "where is my car"};
  auto r2 = converse(*s.server, again);
  expect_heard(r2, again, *s.server);
  EXPECT_LT(metric(*s.server, kFallbacks), fallbacks + again.size() + 1) << s.server->log_tail();
  EXPECT_TRUE(eventually([&] { return active_calls(*s.server) == 0; }, 10s));
  // A black hole costs timeouts, so it opened the breaker (a reset fails fast and did not).
  if (std::string(GetParam()) == "blackhole") {
    EXPECT_TRUE(s.server->wait_for_log("elevenlabs: unreachable (")) << s.server->log_tail();
    EXPECT_TRUE(s.server->wait_for_log("elevenlabs: reachable again")) << s.server->log_tail();
  }
  // No socket was left behind: the server holds about what it held before the calls (its
  // pools may keep a few warm connections).
  EXPECT_TRUE(eventually([&] { return open_fds(s.server->pid()) <= fds_before + 4; }, 20s))
      << open_fds(s.server->pid()) << " open descriptors, " << fds_before << " before";
  EXPECT_EQ(health(*s.server).at("status").as_string(), "healthy");
}

INSTANTIATE_TEST_SUITE_P(Faults, ElevenLabsOutage, ::testing::Values("reset", "blackhole"));

}  // namespace
}  // namespace vox::test
