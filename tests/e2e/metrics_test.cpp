// GET /metrics moves with a real call: the call, its turns, frames and marks are counted,
// each latency stage gets one observation per turn, and the call's end is counted by
// reason. The exposition follows the Prometheus text format.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <array>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "e2e_support.hpp"
#include "server_process.hpp"
#include "twilio/media_messages.hpp"

namespace vox::test {
namespace {

// Parses the exposition into sample -> value ("name{labels}" as written); checks that
// every sample belongs to a family announced by # TYPE and that histograms are
// cumulative with +Inf equal to _count.
std::map<std::string, double> scrape(const ServerProcess& server) {
  const auto res = http("GET", server.url() + "/metrics");
  EXPECT_EQ(res.status, 200);
  std::map<std::string, double> out;
  std::map<std::string, std::string> types;
  std::istringstream in(res.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      types[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    const std::string sample = line.substr(0, sp);
    const std::string name = sample.substr(0, sample.find('{'));
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!types.count(family) && family.size() > std::strlen(suffix) &&
          family.compare(family.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
        family = family.substr(0, family.size() - std::strlen(suffix));
    EXPECT_TRUE(types.count(family)) << "no # TYPE for " << sample;
    out[sample] = std::stod(line.substr(sp + 1));
  }
  for (const auto& [name, type] : types) {
    if (type != "histogram") continue;
    double last = 0;
    for (const auto& [sample, v] : out)
      if (sample.rfind(name + "_bucket{", 0) == 0 && sample.find("le=\"+Inf\"") == std::string::npos) {
        EXPECT_GE(v, 0) << sample;
        last = std::max(last, v);
      }
    EXPECT_GE(out[name + "_bucket{le=\"+Inf\"}"], last) << name;
    EXPECT_EQ(out[name + "_bucket{le=\"+Inf\"}"], out[name + "_count"]) << name;
  }
  return out;
}

TEST(Metrics, ACallMovesTheCountersAndTheLatencyHistograms) {
  const auto grammar = write_server_grammar((std::filesystem::temp_directory_path() / "vox-e2e-metrics.txt").string());
  ServerProcess server({"--stt-mode", "grammar", "--stt-grammar", grammar, "--greeting", kGreeting, "--tts-voice", kVoice});
  const auto before = scrape(server);
  EXPECT_EQ(before.at("voxbridge_calls_started_total"), 0);
  EXPECT_EQ(before.at("voxbridge_active_calls"), 0);
  EXPECT_EQ(before.at("voxbridge_turn_response_seconds_count"), 0);
  EXPECT_EQ(before.at("voxbridge_calls_ended_total{reason=\"hung_up\"}"), 0);

  sim::CallerOptions o;
  o.server_url = server.url();
  o.lines = {"good morning", "what time is it"};
  o.voice = kVoice;
  auto results = sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 1);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].ok) << results[0].error << server.log_tail();
  ASSERT_TRUE(wait_active_calls(server, 0, std::chrono::seconds(20)));
  ASSERT_TRUE(server.wait_for_log("call ended call_sid="));

  const auto after = scrape(server);
  EXPECT_EQ(after.at("voxbridge_calls_started_total"), 1);
  EXPECT_EQ(after.at("voxbridge_calls_ended_total{reason=\"hung_up\"}"), 1) << server.log_tail();
  EXPECT_EQ(after.at("voxbridge_turns_total"), 2);
  // Each stage of both turns was observed once, with plausible values.
  for (const char* stage : {"endpoint", "transcript", "agent", "tts_first_byte", "gateway", "response", "heard"}) {
    const std::string h = std::string("voxbridge_turn_") + stage + "_seconds";
    EXPECT_EQ(after.at(h + "_count"), 2) << h;
    EXPECT_GE(after.at(h + "_sum"), 0) << h;
    EXPECT_LT(after.at(h + "_sum"), 20) << h;  // generous sanity bound
  }
  // The endpoint stage is mostly the silence window (600 ms by default).
  EXPECT_GT(after.at("voxbridge_turn_endpoint_seconds_sum") / 2, 0.3);
  // A caller's 20 ms frames: two lines of speech plus silences are hundreds of frames.
  EXPECT_GT(after.at("voxbridge_frames_in_total"), 100);
  EXPECT_GT(after.at("voxbridge_media_messages_in_total"), 100);
  EXPECT_GT(after.at("voxbridge_media_messages_out_total"), 3);  // greeting and two replies
  EXPECT_GE(after.at("voxbridge_marks_echoed_total"), after.at("voxbridge_media_messages_out_total"));
  EXPECT_EQ(after.at("voxbridge_barge_ins_total"), 0);
  // A clean stream: nothing missing; the counters of trouble are there, at their values.
  EXPECT_EQ(after.at("voxbridge_media_sequence_gaps_total"), 0);
  EXPECT_GE(after.at("voxbridge_media_messages_in_late_total"), 0);
  EXPECT_GE(after.at("voxbridge_reply_underruns_total"), 0);
  EXPECT_EQ(after.at("voxbridge_active_calls"), 0);
  EXPECT_GT(after.at("voxbridge_uptime_seconds"), before.at("voxbridge_uptime_seconds"));
  // The greeting was cached at start and served from the cache.
  EXPECT_GE(after.at("voxbridge_tts_cache_hits_total"), 1);

  // The same turns' latencies are stored with the call and shown by the control API.
  const auto res = http("GET", server.url() + "/api/v1/elevenlabs-twilio/calls/" + results[0].call_sid + "/latency");
  ASSERT_EQ(res.status, 200) << res.body;
  const auto doc = boost::json::parse(res.body).as_object();
  EXPECT_EQ(doc.at("call_sid").as_string(), results[0].call_sid);
  const auto& turns = doc.at("turns").as_array();
  ASSERT_EQ(turns.size(), 2u) << res.body;
  for (std::size_t i = 0; i < turns.size(); ++i) {
    const auto& t = turns[i].as_object();
    EXPECT_EQ(t.at("turn").as_int64(), static_cast<std::int64_t>(i + 1));
    for (const char* k : {"endpoint_ms", "transcript_ms", "agent_ms", "tts_first_byte_ms", "gateway_us", "response_ms", "heard_ms"}) {
      ASSERT_TRUE(t.at(k).is_int64()) << k << " in " << res.body;
      EXPECT_GE(t.at(k).as_int64(), 0) << k;
    }
    EXPECT_GT(t.at("endpoint_ms").as_int64(), 300);       // mostly the 600 ms silence window
    EXPECT_LT(t.at("response_ms").as_int64(), 10000);     // generous sanity bound
    EXPECT_GE(t.at("response_ms").as_int64(), t.at("transcript_ms").as_int64());
  }
  EXPECT_EQ(http("GET", server.url() + "/api/v1/elevenlabs-twilio/calls/CA00000000000000000000000000000404/latency").status, 404);
}

// Media that skips sequence numbers, or arrives far behind its own timestamps, is counted.
TEST(Metrics, MissingAndLateMediaAreCounted) {
  ServerProcess server({"--greeting", ""});
  const auto before = scrape(server);
  EXPECT_EQ(before.at("voxbridge_media_sequence_gaps_total"), 0);
  EXPECT_EQ(before.at("voxbridge_media_messages_in_late_total"), 0);
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/media";
  const std::string sid = "CA22222222222222222222222222222222";
  IoThread io;
  auto ws = io.run([&]() -> boost::asio::awaitable<std::shared_ptr<net::WsClient>> {
    auto c = co_await net::WsClient::connect(url);
    std::string out;
    twilio::Start start;
    start.stream_sid = "MZ22222222222222222222222222222222";
    start.account_sid = "AC22222222222222222222222222222222";
    start.call_sid = sid;
    start.tracks = {"inbound"};
    twilio::write_start(out, start, 1);
    c->send(out);
    const std::array<std::uint8_t, 160> silence = [] {
      std::array<std::uint8_t, 160> a;
      a.fill(0xFF);
      return a;
    }();
    // Sequence 2, 3, then 6 (4 and 5 missing).
    for (const std::int64_t seq : {2, 3, 6}) {
      twilio::write_inbound_media(out, start.stream_sid, seq, seq - 1, 2000 + 20 * (seq - 2), silence);
      c->send(out);
    }
    // Stamped 1.9 s earlier than the frames before it but sent right after them: it
    // arrived far behind where its timestamp puts it.
    twilio::write_inbound_media(out, start.stream_sid, 7, 6, 100, silence);
    c->send(out);
    twilio::write_dtmf(out, start.stream_sid, 8, "5");
    c->send(out);
    co_return c;
  });
  ASSERT_TRUE(server.wait_for_log("dtmf call_sid=" + sid + " digit=5")) << server.log();
  const auto after = scrape(server);
  EXPECT_EQ(after.at("voxbridge_media_sequence_gaps_total"), 1);
  EXPECT_EQ(after.at("voxbridge_media_messages_in_late_total"), 1);
  EXPECT_EQ(after.at("voxbridge_media_messages_in_total"), 4);
  boost::asio::post(io.context(), [ws] { ws->abort(); });
  EXPECT_TRUE(wait_active_calls(server, 0, std::chrono::seconds(10))) << server.log();
}

}  // namespace
}  // namespace vox::test
