// `voxbridge loadtest` at a small N, as CI runs it: 20 calls against a real server,
// every call completes, the JSON report holds caller- and server-side latencies and
// the server's CPU and memory, and the HTML report has its plots.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "e2e_support.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Loadtest, TwentyCallsProduceJsonAndHtmlReports) {
  const auto grammar = write_server_grammar((std::filesystem::temp_directory_path() / "vox-e2e-load.txt").string());
  ServerProcess server({"--stt-mode", "grammar", "--stt-grammar", grammar, "--greeting", kGreeting, "--tts-voice", kVoice});
  const auto dir = std::filesystem::temp_directory_path() / ("vox-load-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto json_path = dir / "load.json";
  const auto html_path = dir / "load.html";
  const std::string cmd = std::string("timeout 300 ") + voxbridge_binary() + " loadtest --url " + server.url() +
                          " --calls 20 --ramp-s 2 --say 'good morning' --say 'what time is it' --server-pid " +
                          std::to_string(server.pid()) + " --json " + json_path.string() + " --html " +
                          html_path.string() + " > " + (dir / "out.txt").string() + " 2> " + (dir / "err.txt").string();
  const int rc = std::system(cmd.c_str());
  const std::string err = slurp(dir / "err.txt");
  ASSERT_TRUE(WIFEXITED(rc)) << err;
  EXPECT_EQ(WEXITSTATUS(rc), 0) << err << server.log_tail();
  // Progress was shown while it ran.
  EXPECT_NE(err.find("[loadtest] "), std::string::npos) << err;
  EXPECT_NE(err.find("20/20 calls completed"), std::string::npos) << err;

  const auto report = boost::json::parse(slurp(json_path)).as_object();
  EXPECT_EQ(report.at("calls").as_int64(), 20);
  EXPECT_EQ(report.at("ok").as_int64(), 20) << boost::json::serialize(report.at("errors"));
  EXPECT_EQ(report.at("failed").as_int64(), 0);
  EXPECT_GE(report.at("peak_concurrent_calls").as_int64(), 2);  // a 2 s ramp of calls lasting several seconds
  EXPECT_LE(report.at("peak_concurrent_calls").as_int64(), 20);
  const auto& reply = report.at("reply_latency_ms").as_object();
  EXPECT_EQ(reply.at("count").to_number<std::int64_t>(), 40);  // two turns per call
  EXPECT_GT(reply.at("p50").as_double(), 0);
  EXPECT_LE(reply.at("p50").as_double(), reply.at("p99").as_double());
  EXPECT_LT(reply.at("p99").as_double(), 15000);  // generous sanity bound; real numbers live in bench/
  // The server's own measurements of the same turns.
  const auto& gateway = report.at("server_gateway_us").as_object();
  EXPECT_EQ(gateway.at("count").to_number<std::int64_t>(), 40);
  EXPECT_GE(gateway.at("p50").as_double(), 0);
  EXPECT_EQ(report.at("server_latency_missing_calls").as_int64(), 0);
  // Overhead per turn, from both sides, and the server's stages.
  EXPECT_EQ(report.at("turn_overhead_ms").as_object().at("count").to_number<std::int64_t>(), 40);
  EXPECT_EQ(report.at("server_turn_overhead_ms").as_object().at("count").to_number<std::int64_t>(), 40);
  for (const char* stage : {"endpoint_ms", "transcript_ms", "agent_ms", "tts_first_byte_ms", "response_ms", "heard_ms"})
    EXPECT_EQ(report.at("server_stages").as_object().at(stage).as_object().at("count").to_number<std::int64_t>(), 40)
        << stage;
  // Every frame a caller sent reached the server, and every media message the server
  // sent reached a caller (counted on both sides; the server's from /metrics).
  const auto frames_sent = report.at("frames_sent").to_number<std::int64_t>();
  EXPECT_GT(frames_sent, 20 * 100);  // 20 calls of several seconds, 50 frames a second
  EXPECT_EQ(report.at("server_frames_in").to_number<std::int64_t>(), frames_sent);
  EXPECT_EQ(report.at("frames_lost").to_number<std::int64_t>(), 0);
  EXPECT_GT(report.at("media_messages_received").to_number<std::int64_t>(), 0);
  EXPECT_EQ(report.at("media_messages_lost").to_number<std::int64_t>(), 0);
  EXPECT_GE(report.at("late_frames_sent").to_number<std::int64_t>(), 0);
  EXPECT_LE(report.at("late_frames_sent").to_number<std::int64_t>(), frames_sent);
  EXPECT_GE(report.at("max_send_lateness_ms").as_double(), 0);
  EXPECT_GE(report.at("reply_gap_frames").to_number<std::int64_t>(), 0);
  // CPU and memory of the server and of the load generator, sampled over the run.
  EXPECT_GT(report.at("server_cpu_s").as_double(), 0);
  EXPECT_GT(report.at("server_peak_rss_mb").as_double(), 10);
  EXPECT_GT(report.at("server_cpu_s_per_call_minute").as_double(), 0);
  EXPECT_GE(report.at("loadgen_cpu_s").as_double(), 0);
  const auto& samples = report.at("samples").as_array();
  ASSERT_GE(samples.size(), 4u);
  EXPECT_GT(samples.back().as_object().at("t_s").as_double(), samples.front().as_object().at("t_s").as_double());

  const std::string html = slurp(html_path);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("20 completed, 0 failed"), std::string::npos);
  EXPECT_NE(html.find("gateway overhead per turn"), std::string::npos);
  EXPECT_NE(html.find("lost between callers and server: 0 frames in, 0 media messages out"), std::string::npos);
  std::size_t svgs = 0;
  for (auto p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 2u);   // latency histogram; CPU and memory over time
  EXPECT_NE(html.find("<polyline"), std::string::npos);
  EXPECT_NE(html.find("<rect"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vox::test
