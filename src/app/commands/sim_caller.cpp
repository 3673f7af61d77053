#include "app/commands/sim_caller.hpp"
#include "app/commands/wait_for_server.hpp"
#include "core/json_text.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include "audio/g711.hpp"
#include "audio/wav.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/sphinx_stt.hpp"

namespace vox::app {
namespace json = boost::json;

int run_sim_caller(const SimCallerCommand& cmd) {
  if (!cmd.caller.call_sid.empty() && cmd.calls > 1) {
    std::cerr << "sim caller: --call-sid names one call; drop it or use --calls 1\n";
    return 2;
  }
  if (!wait_for_server(cmd.caller.server_url, std::chrono::seconds(20), "the gateway")) {
    std::cerr << "sim caller: nothing answers at " << cmd.caller.server_url
              << ": start the gateway first (voxbridge serve) or give --url\n";
    return 1;
  }
  speech::EspeakTts tts(speech::EspeakSettings{});
  std::vector<std::string> phrases = cmd.expect;
  std::cerr << "sim caller: " << cmd.calls << " call(s) to " << cmd.caller.server_url << cmd.caller.webhook_path
            << ", " << cmd.caller.lines.size() << " line(s) each\n";
  auto results = sim::run_callers(cmd.caller, cmd.calls, sim::CallerEngines{tts}, 2);
  if (cmd.transcribe) {
    std::cerr << "sim caller: transcribing what was heard (" << (phrases.empty() ? "language model" : "phrase grammar")
              << ")\n";
    speech::SphinxSettings s;
    s.mode = phrases.empty() ? "lm" : "grammar";
    speech::PocketsphinxStt stt(s, phrases, 2);
    sim::transcribe(results, stt);
  }

  json::array calls;
  std::vector<double> latencies;
  int ok = 0, turns = 0, clears = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    json::object c;
    c["call_sid"] = r.call_sid;
    c["ok"] = r.ok;
    if (!r.ok) c["error"] = r.error;
    c["duration_ms"] = r.duration_ms;
    c["clears"] = r.clears;
    c["marks_received"] = r.marks_received;
    c["server_closed"] = r.server_closed;
    json::array t;
    for (const auto& turn : r.turns) {
      t.push_back(json::object{{"said", turn.said}, {"reply_latency_ms", turn.reply_latency_ms}});
      if (turn.reply_latency_ms >= 0) latencies.push_back(turn.reply_latency_ms);
    }
    json::array heard;
    for (std::size_t k = 0; k < r.heard.size(); ++k) {
      const auto& seg = r.heard[k];
      heard.push_back(json::object{{"transcript", seg.transcript}, {"audio_ms", seg.ulaw.size() / 8}, {"cleared", seg.cleared}});
      if (!cmd.record_dir.empty()) {
        std::vector<std::int16_t> pcm(seg.ulaw.size());
        audio::ulaw_decode(seg.ulaw, pcm);
        audio::write_wav(cmd.record_dir + "/call" + std::to_string(i) + "_heard" + std::to_string(k) + ".wav", pcm, 8000);
      }
    }
    c["turns"] = std::move(t);
    c["heard"] = std::move(heard);
    calls.push_back(std::move(c));
    ok += r.ok;
    turns += static_cast<int>(r.turns.size());
    clears += r.clears;
  }
  json::object summary;
  summary["calls"] = static_cast<int>(results.size());
  summary["ok"] = ok;
  summary["failed"] = static_cast<int>(results.size()) - ok;
  summary["turns"] = turns;
  summary["clears"] = clears;
  summary["reply_latency_ms"] = json::object{{"p50", sim::percentile(latencies, 50)},
                                             {"p90", sim::percentile(latencies, 90)},
                                             {"p99", sim::percentile(latencies, 99)},
                                             {"max", sim::percentile(latencies, 100)},
                                             {"count", latencies.size()}};
  summary["results"] = std::move(calls);
  const std::string text = vox::json_text(summary);
  std::cout << text << std::endl;
  if (!cmd.json_out.empty()) std::ofstream(cmd.json_out) << text << "\n";
  return ok == static_cast<int>(results.size()) ? 0 : 1;
}

}  // namespace vox::app
