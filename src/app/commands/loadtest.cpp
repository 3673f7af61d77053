#include "app/commands/loadtest.hpp"

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
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/config.hpp"
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
  if (!out->ok) ++*failed;
  ++*done;
}

// The server's own per-turn latencies of a call (GET /calls/{sid}/latency).
asio::awaitable<void> fetch_latency(std::string url, std::string key, std::vector<double>* gateway_us,
                                    std::vector<double>* response_ms, int* missing) {
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
    ++*missing;
    co_return;
  }
  boost::system::error_code ec;
  auto v = json::parse(res->body, ec);
  if (ec || !v.is_object()) co_return;
  for (const auto& t : v.as_object().at("turns").as_array()) {
    const auto& o = t.as_object();
    if (o.at("gateway_us").is_number()) gateway_us->push_back(o.at("gateway_us").to_number<double>());
    if (o.at("response_ms").is_number()) response_ms->push_back(o.at("response_ms").to_number<double>());
  }
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
  TtsSettings tts_settings;
  tts_settings.voice = o.voice;
  speech::EspeakTts tts(tts_settings);
  sim::CallerOptions caller;
  caller.server_url = o.url;
  caller.voice = o.voice;
  caller.lines = o.lines.empty() ? std::vector<std::string>{"good morning", "what time is it"} : o.lines;

  asio::io_context ioc;
  std::vector<sim::CallerResult> results(static_cast<std::size_t>(o.calls));
  std::atomic<int> started{0}, done{0}, failed{0};
  const auto step = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.ramp_s / o.calls));
  for (int i = 0; i < o.calls; ++i)
    asio::co_spawn(asio::make_strand(ioc),
                   delayed_call(step * i, caller, &tts, &results[static_cast<std::size_t>(i)], &started, &done, &failed),
                   asio::detached);

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
  for (int i = 1; i < o.threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
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
  std::vector<double> reply_ms, gateway_us, response_ms;
  json::array errors;
  int ok = 0, missing = 0;
  double call_minutes = 0;
  asio::io_context fetch;
  std::string base = o.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  for (const auto& r : results) {
    if (r.ok) ++ok;
    else if (errors.size() < 20) errors.push_back(json::value(r.error));
    call_minutes += r.duration_ms / 60000.0;
    for (const auto& t : r.turns)
      if (t.reply_latency_ms >= 0) reply_ms.push_back(t.reply_latency_ms);
    if (!r.call_sid.empty())
      asio::co_spawn(fetch, fetch_latency(base + "/api/v1/elevenlabs-twilio/calls/" + r.call_sid + "/latency", o.api_key,
                                          &gateway_us, &response_ms, &missing),
                     asio::detached);
  }
  fetch.run();

  json::object report{{"calls", o.calls},
                      {"ok", ok},
                      {"failed", o.calls - ok},
                      {"errors", errors},
                      {"turns", reply_ms.size()},
                      {"peak_concurrent_calls", peak_concurrent},
                      {"wall_s", wall_s},
                      {"ramp_s", o.ramp_s},
                      {"reply_latency_ms", percentiles(reply_ms)},
                      {"server_gateway_us", percentiles(gateway_us)},
                      {"server_response_ms", percentiles(response_ms)},
                      {"server_latency_missing_calls", missing},
                      {"loadgen_cpu_s", self_cpu1 - self_cpu0},
                      {"loadgen_cpu_pct", 100 * (self_cpu1 - self_cpu0) / wall_s}};
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

  const std::string text = json::serialize(report);
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
         " s, at most " + std::to_string(peak_concurrent) + " at once), " + std::to_string(ok) + " completed, " + std::to_string(o.calls - ok) + " failed, in " + fmt(wall_s, 1) +
         " s.</p>";
    h += "<table><tr><th></th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>n</th></tr>";
    h += "<tr><th>reply latency, caller side (ms)</th><td>" + pct(rl, "p50") + "</td><td>" + pct(rl, "p90") +
         "</td><td>" + pct(rl, "p99") + "</td><td>" + pct(rl, "max") + "</td><td>" + std::to_string(reply_ms.size()) +
         "</td></tr>";
    h += "<tr><th>gateway share, server side (µs)</th><td>" + pct(gw, "p50") + "</td><td>" + pct(gw, "p90") +
         "</td><td>" + pct(gw, "p99") + "</td><td>" + pct(gw, "max") + "</td><td>" + std::to_string(gateway_us.size()) +
         "</td></tr></table>";
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
  std::cerr << "[loadtest] " << ok << "/" << o.calls << " calls completed; reply latency p50 "
            << fmt(sim::percentile(reply_ms, 50)) << " ms, p99 " << fmt(sim::percentile(reply_ms, 99))
            << " ms; gateway share p99 " << fmt(sim::percentile(gateway_us, 99)) << " µs" << std::endl;
  return ok == o.calls ? 0 : 1;
}

}  // namespace vox::app
