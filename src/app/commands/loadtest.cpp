#include "app/commands/loadtest.hpp"
#include "app/commands/wait_for_server.hpp"
#include "core/json_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <optional>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/spawn.hpp"
#include "app/config.hpp"
#include "core/xml.hpp"
#include "net/client.hpp"
#include "sim/caller.hpp"
#include "speech/espeak_tts.hpp"

namespace vox::app {
namespace asio = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

struct ProcSample {
  double t_s = 0;
  double server_cpu_pct = -1;  // of one core, over the last interval
  double server_rss_mb = -1;
  double self_cpu_pct = 0;
};

// CPU seconds (user + system) and resident MiB of a process, from /proc; false if gone.
bool read_proc(const std::string& pid, double& cpu_s, double& rss_mb) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  cpu_s = (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + pid + "/status");
  rss_mb = -1;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) rss_mb = std::stod(line.substr(6)) / 1024.0;
  return true;
}

json::object percentiles(const std::vector<double>& v) {
  return json::object{{"p50", sim::percentile(v, 50)}, {"p90", sim::percentile(v, 90)},
                      {"p99", sim::percentile(v, 99)}, {"max", sim::percentile(v, 100)},
                      {"count", v.size()}};
}

asio::awaitable<void> delayed_call(Clock::duration delay, sim::CallerOptions options, speech::EspeakTts* tts,
                                   sim::CallerResult* out, std::atomic<int>* started, std::atomic<int>* done,
                                   std::atomic<int>* failed) {
  auto exec = co_await asio::this_coro::executor;
  asio::steady_timer timer(exec);
  timer.expires_after(delay);
  co_await timer.async_wait(asio::use_awaitable);
  ++*started;
  sim::CallerEngines engines{*tts};
  *out = co_await sim::run_caller(std::move(options), engines);
  if (!out->ok && !out->refused) ++*failed;
  ++*done;
}

// The server's own per-turn latencies of a call (GET /calls/{sid}/latency), by stage.
struct ServerTurns {
  std::map<std::string, std::vector<double>> stages;  // "endpoint_ms", ..., "gateway_us"
  std::vector<double> overhead_ms;  // endpoint + response − silence window − provider delays
  int missing_calls = 0;
};

asio::awaitable<void> fetch_latency(std::string url, std::string key, double subtract_ms, ServerTurns* out) {
  net::Headers headers;
  if (!key.empty()) headers.emplace_back("X-API-KEY", key);
  std::optional<net::HttpResponse> res;
  try {
    std::string method = "GET";
    std::string body;
    res = co_await net::http_request(method, url, headers, body);
  } catch (const std::exception&) {
  }
  if (!res || res->status != 200) {
    ++out->missing_calls;
    co_return;
  }
  boost::system::error_code ec;
  auto v = json::parse(res->body, ec);
  if (ec || !v.is_object()) co_return;
  for (const auto& t : v.as_object().at("turns").as_array()) {
    const auto& o = t.as_object();
    for (const char* k : {"endpoint_ms", "transcript_ms", "agent_ms", "tts_first_byte_ms", "gateway_us", "response_ms",
                          "heard_ms"})
      if (const auto* x = o.if_contains(k); x && x->is_number()) out->stages[k].push_back(x->to_number<double>());
    const auto* e = o.if_contains("endpoint_ms");
    const auto* r = o.if_contains("response_ms");
    if (e && r && e->is_number() && r->is_number())
      out->overhead_ms.push_back(e->to_number<double>() + r->to_number<double>() - subtract_ms);
  }
}

asio::awaitable<void> request_into(std::string method, std::string url, std::string body,
                                   std::optional<net::HttpResponse>* out) {
  try {
    net::Headers headers;
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    *out = co_await net::http_request(method, url, headers, body);
  } catch (const std::exception&) {
  }
}

// One HTTP request, waited for; nullopt when it could not be made.
std::optional<net::HttpResponse> http_blocking(const std::string& method, const std::string& url,
                                               const std::string& body = {}) {
  asio::io_context ioc;
  std::optional<net::HttpResponse> out;
  vox::spawn(ioc, request_into(method, url, body, &out), "load test");
  ioc.run();
  return out;
}

// The server's counters the load test checks against what the callers saw, from /metrics.
struct ServerCounters {
  bool ok = false;
  double frames_in = 0;   // caller frames the server processed
  double media_out = 0;   // media messages the server sent
  double late_in = 0;     // caller frames that reached it late
};

ServerCounters scrape(const std::string& base) {
  ServerCounters c;
  const auto res = http_blocking("GET", base + "/metrics");
  if (!res || res->status != 200) return c;
  std::istringstream in(res->body);
  std::string line;
  auto value = [&](const char* name, double& out) {
    const std::size_t n = std::strlen(name);
    if (line.size() > n && line.compare(0, n, name) == 0 && line[n] == ' ') out = std::stod(line.substr(n + 1));
  };
  while (std::getline(in, line)) {
    value("voxbridge_frames_in_total", c.frames_in);
    value("voxbridge_media_messages_out_total", c.media_out);
    value("voxbridge_media_messages_in_late_total", c.late_in);
  }
  c.ok = true;
  return c;
}

std::string fmt(double v, int decimals = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// An SVG bar chart of `values` in `bins` buckets.
std::string histogram_svg(const std::vector<double>& values, const std::string& unit) {
  const int W = 640, H = 240, bins = 30;
  if (values.empty()) return "<p>No data.</p>";
  const double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  if (hi <= lo) hi = lo + 1;
  std::vector<int> counts(bins, 0);
  for (const double v : values) counts[std::min(bins - 1, static_cast<int>((v - lo) / (hi - lo) * bins))]++;
  const int top = *std::max_element(counts.begin(), counts.end());
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(W) + "\" height=\"" +
                  std::to_string(H + 30) + "\" role=\"img\">";
  const double bw = static_cast<double>(W) / bins;
  for (int i = 0; i < bins; ++i) {
    const double h = top ? static_cast<double>(counts[i]) / top * H : 0;
    s += "<rect x=\"" + fmt(i * bw, 1) + "\" y=\"" + fmt(H - h, 1) + "\" width=\"" + fmt(bw - 1, 1) + "\" height=\"" +
         fmt(h, 1) + "\" fill=\"#4a7bd0\"><title>" + fmt(lo + i * (hi - lo) / bins) + "–" +
         fmt(lo + (i + 1) * (hi - lo) / bins) + " " + unit + ": " + std::to_string(counts[i]) + "</title></rect>";
  }
  s += "<text x=\"0\" y=\"" + std::to_string(H + 20) + "\">" + fmt(lo) + " " + unit + "</text>";
  s += "<text x=\"" + std::to_string(W) + "\" y=\"" + std::to_string(H + 20) + "\" text-anchor=\"end\">" + fmt(hi) + " " +
       unit + "</text></svg>";
  return s;
}

// An SVG line chart of several series over time.
std::string lines_svg(const std::vector<ProcSample>& samples) {
  const int W = 640, H = 240;
  if (samples.size() < 2) return "<p>Not enough samples.</p>";
  const double t_max = std::max(1.0, samples.back().t_s);
  struct Series {
    const char* name;
    const char* color;
    double ProcSample::*field;
  };
  const Series series[] = {{"server CPU %", "#d04a4a", &ProcSample::server_cpu_pct},
                           {"server RSS MiB", "#4a9a4a", &ProcSample::server_rss_mb},
                           {"load generator CPU %", "#888888", &ProcSample::self_cpu_pct}};
  double y_max = 1;
  for (const auto& p : samples)
    for (const auto& se : series) y_max = std::max(y_max, p.*(se.field));
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(W) + "\" height=\"" +
                  std::to_string(H + 50) + "\" role=\"img\">";
  int legend = 0;
  for (const auto& se : series) {
    std::string pts;
    for (const auto& p : samples) {
      const double v = p.*(se.field);
      if (v < 0) continue;
      pts += fmt(p.t_s / t_max * W, 1) + "," + fmt(H - v / y_max * H, 1) + " ";
    }
    if (pts.empty()) continue;
    s += "<polyline fill=\"none\" stroke=\"" + std::string(se.color) + "\" stroke-width=\"2\" points=\"" + pts + "\"/>";
    s += "<text x=\"" + std::to_string(legend * 210) + "\" y=\"" + std::to_string(H + 40) + "\" fill=\"" + se.color +
         "\">" + se.name + "</text>";
    ++legend;
  }
  s += "<text x=\"0\" y=\"12\">" + fmt(y_max) + "</text><text x=\"" + std::to_string(W) + "\" y=\"" +
       std::to_string(H + 20) + "\" text-anchor=\"end\">" + fmt(t_max) + " s</text></svg>";
  return s;
}

}  // namespace

int run_loadtest(const LoadtestOptions& o) {
  if (o.calls < 1) {
    std::cerr << "voxbridge loadtest: --calls must be at least 1\n";
    return 2;
  }
  const std::string server_pid = o.server_pid > 0 ? std::to_string(o.server_pid) : std::string();
  if (!wait_for_server(o.url, std::chrono::seconds(20), "the server under test")) {
    std::cerr << "voxbridge loadtest: nothing answers at " << o.url << ": start the server first (voxbridge serve)\n";
    return 2;
  }
  speech::EspeakSettings tts_settings;
  tts_settings.voice = o.voice;
  speech::EspeakTts tts(tts_settings);
  sim::CallerOptions caller;
  caller.server_url = o.url;
  caller.voice = o.voice;
  caller.keep_heard_audio = false;  // only counts and latencies are reported
  caller.lines = o.lines.empty() ? std::vector<std::string>{"good morning", "what time is it"} : o.lines;
  // Every caller says the same lines: synthesize them once.
  caller.line_audio = std::make_shared<const std::vector<std::vector<std::uint8_t>>>(
      sim::speak_lines(caller.lines, o.voice, tts));
  std::string base = o.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!o.elevenlabs_emulator.empty()) {
    std::string emu = o.elevenlabs_emulator;
    while (!emu.empty() && emu.back() == '/') emu.pop_back();
    const std::string body = "{\"ttfb_ms\":" + std::to_string(o.ttfb_ms) + ",\"stt_delay_ms\":" +
                             std::to_string(o.stt_delay_ms) + "}";
    const auto res = http_blocking("POST", emu + "/emulator/latency", body);
    if (!res || res->status != 200) {
      std::cerr << "voxbridge loadtest: could not set the latency of the ElevenLabs emulator at " << emu
                << " (is `voxbridge emulate elevenlabs` running there?)\n";
      return 2;
    }
  }
  const ServerCounters before = scrape(base);

  // One io_context and one frame ticker per load generator thread; calls are dealt out
  // round-robin and never leave their thread (no strands, no locks).
  const int nthreads = std::max(1, o.threads);
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<std::unique_ptr<sim::FrameTicker>> tickers;
  for (int i = 0; i < nthreads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    tickers.push_back(std::make_unique<sim::FrameTicker>(*contexts.back()));
  }
  std::vector<sim::CallerResult> results(static_cast<std::size_t>(o.calls));
  std::atomic<int> started{0}, done{0}, failed{0};
  const auto step = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.ramp_s / o.calls));
  for (int i = 0; i < o.calls; ++i) {
    const auto t = static_cast<std::size_t>(i % nthreads);
    sim::CallerOptions options = caller;
    options.ticker = tickers[t].get();
    vox::spawn(*contexts[t],
                   delayed_call(step * i, options, &tts, &results[static_cast<std::size_t>(i)], &started, &done, &failed),
                   "load test");
  }

  // Samples /proc twice a second and prints progress every second until the calls are done.
  std::vector<ProcSample> samples;
  int peak_concurrent = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  const auto t0 = Clock::now();
  double server_cpu0 = 0, rss = 0, self_cpu0 = 0;
  if (!server_pid.empty() && !read_proc(server_pid, server_cpu0, rss))
    std::cerr << "voxbridge loadtest: no process " << server_pid << "; server CPU and memory are not sampled\n";
  read_proc("self", self_cpu0, rss);
  std::thread sampler([&] {
    double last_server = server_cpu0, last_self = self_cpu0;
    auto last_t = t0;
    int tick = 0;
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return finished; })) {
      const auto now = Clock::now();
      const double dt = std::chrono::duration<double>(now - last_t).count();
      ProcSample s;
      s.t_s = std::chrono::duration<double>(now - t0).count();
      double cpu = 0, mem = 0;
      if (!server_pid.empty() && read_proc(server_pid, cpu, mem)) {
        s.server_cpu_pct = 100 * (cpu - last_server) / dt;
        s.server_rss_mb = mem;
        last_server = cpu;
      }
      if (read_proc("self", cpu, mem)) {
        s.self_cpu_pct = 100 * (cpu - last_self) / dt;
        last_self = cpu;
      }
      last_t = now;
      samples.push_back(s);
      peak_concurrent = std::max(peak_concurrent, started.load() - done.load());
      if (++tick % 2 == 0) {
        std::cerr << "[loadtest] " << fmt(s.t_s) << " s: " << started.load() << "/" << o.calls << " started, "
                  << done.load() << " done, " << failed.load() << " failed";
        if (s.server_cpu_pct >= 0)
          std::cerr << "; server " << fmt(s.server_cpu_pct) << "% CPU, " << fmt(s.server_rss_mb) << " MiB";
        std::cerr << "; load generator " << fmt(s.self_cpu_pct) << "% CPU" << std::endl;
      }
    }
  });
  std::vector<std::thread> pool;
  for (int i = 1; i < nthreads; ++i) pool.emplace_back([ctx = contexts[static_cast<std::size_t>(i)].get()] { ctx->run(); });
  contexts[0]->run();
  for (auto& t : pool) t.join();
  const double wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  {
    std::lock_guard lock(mu);
    finished = true;
  }
  cv.notify_all();
  sampler.join();
  double server_cpu1 = server_cpu0, self_cpu1 = self_cpu0, peak_rss = -1;
  if (!server_pid.empty()) read_proc(server_pid, server_cpu1, rss);
  read_proc("self", self_cpu1, rss);
  for (const auto& s : samples) peak_rss = std::max(peak_rss, s.server_rss_mb);

  // Caller-side latencies, and the server's own by call.
  std::vector<double> reply_ms;
  ServerTurns server_turns;
  json::array errors;
  int ok = 0, refused = 0;
  double call_minutes = 0;
  asio::io_context fetch;
  const ServerCounters after = scrape(base);
  std::vector<double> overhead_ms;
  const double subtract_ms = o.silence_ms + o.ttfb_ms + o.stt_delay_ms;
  std::uint64_t frames_sent = 0, late_frames = 0, gap_frames = 0, media_received = 0;
  double max_lateness_ms = 0;
  for (const auto& r : results) {
    if (r.ok) ++ok;
    else if (r.refused) ++refused;  // overload control said no, cleanly: counted apart
    else if (errors.size() < 20) errors.push_back(json::value(r.error));
    call_minutes += r.duration_ms / 60000.0;
    frames_sent += r.frames_sent;
    late_frames += r.late_frames;
    gap_frames += r.reply_gap_frames;
    media_received += r.media_messages_received;
    max_lateness_ms = std::max(max_lateness_ms, r.max_lateness_ms);
    for (const auto& t : r.turns)
      if (t.reply_latency_ms >= 0) {
        reply_ms.push_back(t.reply_latency_ms);
        overhead_ms.push_back(t.reply_latency_ms - subtract_ms);
      }
    if (!r.call_sid.empty())
      vox::spawn(fetch, fetch_latency(base + "/api/v1/elevenlabs-twilio/calls/" + r.call_sid + "/latency", o.api_key,
                                          subtract_ms, &server_turns),
                     "load test");
  }
  fetch.run();
  const std::vector<double>& gateway_us = server_turns.stages["gateway_us"];
  const std::vector<double>& response_ms = server_turns.stages["response_ms"];
  json::object stages;
  for (const auto& [name, values] : server_turns.stages) stages[name] = percentiles(values);

  json::object report{{"calls", o.calls},
                      {"ok", ok},
                      {"refused", refused},
                      {"failed", o.calls - ok - refused},
                      {"errors", errors},
                      {"turns", reply_ms.size()},
                      {"peak_concurrent_calls", peak_concurrent},
                      {"wall_s", wall_s},
                      {"ramp_s", o.ramp_s},
                      {"reply_latency_ms", percentiles(reply_ms)},
                      {"turn_overhead_ms", percentiles(overhead_ms)},
                      {"overhead_subtracts_ms", json::object{{"silence", o.silence_ms}, {"tts_ttfb", o.ttfb_ms},
                                                             {"stt_delay", o.stt_delay_ms}}},
                      {"frames_sent", frames_sent},
                      {"late_frames_sent", late_frames},
                      {"max_send_lateness_ms", max_lateness_ms},
                      {"reply_gap_frames", gap_frames},
                      {"media_messages_received", media_received},
                      {"server_gateway_us", percentiles(gateway_us)},
                      {"server_response_ms", percentiles(response_ms)},
                      {"server_latency_missing_calls", server_turns.missing_calls},
                      {"server_stages", stages},
                      {"server_turn_overhead_ms", percentiles(server_turns.overhead_ms)},
                      {"loadgen_cpu_s", self_cpu1 - self_cpu0},
                      {"loadgen_cpu_pct", 100 * (self_cpu1 - self_cpu0) / wall_s}};
  if (before.ok && after.ok) {
    // Only meaningful when nothing else talks to the server during the run.
    report["server_frames_in"] = after.frames_in - before.frames_in;
    report["frames_lost"] = static_cast<double>(frames_sent) - (after.frames_in - before.frames_in);
    report["server_late_frames_in"] = after.late_in - before.late_in;
    report["server_media_messages_out"] = after.media_out - before.media_out;
    report["media_messages_lost"] = (after.media_out - before.media_out) - static_cast<double>(media_received);
  }
  if (!server_pid.empty()) {
    const double cpu_s = server_cpu1 - server_cpu0;
    report["server_cpu_s"] = cpu_s;
    report["server_cpu_pct"] = 100 * cpu_s / wall_s;
    report["server_cpu_s_per_call_minute"] = call_minutes > 0 ? cpu_s / call_minutes : 0.0;
    report["server_peak_rss_mb"] = peak_rss;
  }
  json::array sample_rows;
  for (const auto& s : samples)
    sample_rows.push_back(json::object{{"t_s", s.t_s}, {"server_cpu_pct", s.server_cpu_pct},
                                       {"server_rss_mb", s.server_rss_mb}, {"loadgen_cpu_pct", s.self_cpu_pct}});
  report["samples"] = sample_rows;
  report["reply_latencies_ms"] = json::value_from(reply_ms);

  const std::string text = vox::json_text(report);
  std::cout << text << std::endl;
  if (!o.json_out.empty()) std::ofstream(o.json_out) << text << "\n";
  if (!o.html_out.empty()) {
    auto pct = [](const json::object& p, const char* k) { return fmt(p.at(k).as_double(), 1); };
    const auto& rl = report.at("reply_latency_ms").as_object();
    const auto& gw = report.at("server_gateway_us").as_object();
    std::string h = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>voxbridge load test</title>"
                    "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:right}</style>"
                    "</head><body><h1>voxbridge load test</h1>";
    h += "<p>" + std::to_string(o.calls) + " calls against " + xml_escape(o.url) + " (ramp " + fmt(o.ramp_s, 1) +
         " s, at most " + std::to_string(peak_concurrent) + " at once), " + std::to_string(ok) + " completed, " + std::to_string(o.calls - ok - refused) + " failed, " + (refused ? std::to_string(refused) + " refused cleanly (overload control), " : std::string()) + "in " + fmt(wall_s, 1) +
         " s.</p>";
    auto row = [&](const char* title, const json::object& p) {
      return std::string("<tr><th>") + title + "</th><td>" + pct(p, "p50") + "</td><td>" + pct(p, "p90") + "</td><td>" +
             pct(p, "p99") + "</td><td>" + pct(p, "max") + "</td><td>" + std::to_string(p.at("count").to_number<long>()) +
             "</td></tr>";
    };
    h += "<table><tr><th></th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>n</th></tr>";
    h += row("reply latency, caller side (ms)", rl);
    h += row(("gateway overhead per turn (ms): reply latency − " + std::to_string(o.silence_ms) + " ms silence − " +
              std::to_string(o.ttfb_ms + o.stt_delay_ms) + " ms provider delays").c_str(),
             report.at("turn_overhead_ms").as_object());
    h += row("gateway overhead per turn, server side (ms): endpoint + response − silence − provider delays",
             report.at("server_turn_overhead_ms").as_object());
    h += row("gateway share, server side (µs)", gw);
    h += row("response, server side (ms)", report.at("server_response_ms").as_object());
    h += "</table>";
    h += "<p>Frames: " + std::to_string(frames_sent) + " sent by the callers, " + std::to_string(late_frames) +
         " of them more than 20 ms late (latest " + fmt(max_lateness_ms, 1) + " ms); " + std::to_string(gap_frames) +
         " frames of silence in the middle of replies";
    if (report.contains("frames_lost"))
      h += "; lost between callers and server: " + fmt(report.at("frames_lost").as_double()) +
           " frames in, " + fmt(report.at("media_messages_lost").as_double()) + " media messages out";
    h += ".</p>";
    if (!server_pid.empty())
      h += "<p>Server: " + fmt(report.at("server_cpu_pct").as_double()) + "% of one core on average, peak RSS " +
           fmt(peak_rss) + " MiB. ";
    else
      h += "<p>";
    h += "Load generator: " + fmt(report.at("loadgen_cpu_pct").as_double()) + "% of one core.</p>";
    h += "<h2>Reply latency (caller side)</h2>" + histogram_svg(reply_ms, "ms");
    h += "<h2>CPU and memory over time</h2>" + lines_svg(samples);
    h += "</body></html>\n";
    std::ofstream(o.html_out) << h;
  }
  std::cerr << "[loadtest] " << ok << "/" << o.calls << " calls completed"
            << (refused ? ", " + std::to_string(refused) + " refused cleanly (503/1013)" : std::string())
            << "; reply latency p50 "
            << fmt(sim::percentile(reply_ms, 50)) << " ms, p99 " << fmt(sim::percentile(reply_ms, 99))
            << " ms; overhead p99 " << fmt(sim::percentile(overhead_ms, 99), 1) << " ms; gateway share p99 "
            << fmt(sim::percentile(gateway_us, 99)) << " µs; " << late_frames << " late frames, " << gap_frames
            << " reply gap frames" << std::endl;
  // Clean refusals (overload control) are not failures; anything else is.
  return ok + refused == o.calls ? 0 : 1;
}

}  // namespace vox::app
