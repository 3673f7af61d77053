#include "app/commands/talk.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_future.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

#include "core/spawn.hpp"
#include "app/commands/serve.hpp"
#include "app/commands/wait_for_server.hpp"
#include "core/hash.hpp"
#include "net/client.hpp"
#include "talk/report.hpp"
#include "talk/runner.hpp"
#include "talk/scenario.hpp"
#include "twilio/rest_client.hpp"

namespace vox::app {
namespace asio = boost::asio;

namespace {

// Progress lines on stderr, one per event, prefixed by the scenario (they interleave
// when scenarios run in parallel).
class TerminalProgress final : public talk::Progress {
 public:
  explicit TerminalProgress(std::size_t scenarios) : total_(scenarios) {}
  void started(const talk::Scenario& s, const std::string& call_sid) override {
    print(s.name, "calling (" + call_sid + "), " + std::to_string(s.turns.size()) + " turn(s)");
  }
  void turn(const talk::Scenario& s, const talk::TurnResult& t) override {
    std::string line = std::to_string(t.index) + "/" + std::to_string(s.turns.size()) + " ";
    if (!t.said.empty()) line += "us: \"" + t.said + "\"  ";
    if (!t.heard.empty()) {
      line += "them: \"" + t.heard + "\"";
      if (t.latency_ms >= 0) line += " (" + std::to_string(static_cast<long long>(t.latency_ms)) + " ms)";
    }
    line += t.failures.empty() ? "  ok" : "  FAIL: " + t.failures.front();
    print(s.name, line);
  }
  void finished(const talk::ScenarioResult& r) override {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f s", r.duration_s);
    std::lock_guard lock(mu_);
    ++done_;
    std::cerr << "[" << r.name << "] " << (r.passed ? "PASSED" : "FAILED: " + r.reason) << " (" << secs << ", " << done_
              << "/" << total_ << " done)" << std::endl;
  }

 private:
  void print(const std::string& name, const std::string& line) {
    std::lock_guard lock(mu_);
    std::cerr << "[" << name << "] " << line << std::endl;
  }
  std::mutex mu_;
  std::size_t total_;
  std::size_t done_ = 0;
};

std::string random_key() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  return hex_encode(std::string_view(reinterpret_cast<const char*>(b), sizeof b));
}

struct Work {
  talk::ScenarioRunner& runner;
  const std::vector<talk::Scenario>& scenarios;
  std::vector<talk::ScenarioResult>& results;
  std::size_t next = 0;
  int workers_left = 0;
  int interrupts = 0;  // interrupt() runs still completing calls at Twilio
  asio::io_context& ioc;
};

// Runs scenarios one after another until none are left.
asio::awaitable<void> worker(Work* w) {
  for (;;) {
    if (w->next >= w->scenarios.size()) break;
    const std::size_t i = w->next++;
    const talk::Scenario* s = &w->scenarios[i];
    w->results[i] = co_await w->runner.run(s);
  }
  if (--w->workers_left == 0 && w->interrupts == 0) w->ioc.stop();
}

// Completes every live call at Twilio; the program ends once that and the scenarios are done.
asio::awaitable<void> interrupt(Work* w) {
  ++w->interrupts;
  co_await w->runner.interrupt();
  if (--w->interrupts == 0 && w->workers_left == 0) w->ioc.stop();
}

bool write_file(const std::string& path, const std::string& text) {
  if (path.empty()) return true;
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream out(path);
  out << text;
  if (!out) {
    std::cerr << "voxbridge talk: cannot write " << path << "\n";
    return false;
  }
  return true;
}

std::string file_safe(const std::string& name) {
  std::string out;
  for (const char c : name) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out.empty() ? "scenario" : out;
}

}  // namespace

namespace {

// Stops the in-process server (if one runs) and removes its temporary store.
void stop_in_process(const std::function<void()>& stop_server, std::thread& server_thread,
                     const std::string& temp_store) {
  if (stop_server) {
    stop_server();
    server_thread.join();
  }
  if (!temp_store.empty())
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      std::filesystem::remove(temp_store + suffix, ec);
    }
}

// Whether `server` is a voxbridge whose turn API takes `key`: nullopt when it is, else why
// not. /generate without a sid answers 400 once the key is accepted, and has no effect.
std::optional<std::string> check_server(asio::io_context& ioc, net::HttpClient& http, const std::string& server,
                                        const std::string& key) {
  if (!wait_for_server(server, std::chrono::seconds(10), "the voxbridge server (--server)"))
    return "nothing answers at " + server + " (--server)";
  int status = 0;
  std::string failure;
  auto fut = asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    net::ClientRequest req;
    req.method = "GET";
    req.url = server + "/generate?client=voxbridge-talk";
    req.headers = {{"X-API-KEY", key}, {"Accept", "application/json"}};
    req.read_timeout = std::chrono::seconds(10);
    try {
      auto res = co_await http.send(std::move(req));
      status = res.status;
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }, asio::use_future);
  ioc.run();
  ioc.restart();
  fut.get();
  if (!failure.empty()) return "the server at " + server + " did not answer (" + failure + ")";
  if (status == 403)
    return "the server at " + server + " refused the key: --generate-api-key (or API_KEY) must equal its API_KEY";
  if (status == 503) return "the server at " + server + " has no API_KEY set, so its turn API (/generate) is off";
  if (status != 400)
    return "the server at " + server + " answered " + std::to_string(status) + " to /generate: is it a voxbridge server?";
  return std::nullopt;
}

}  // namespace

int run_talk(ServerConfig config, const TalkOptions& o) {
  // The scenarios first: a typo should not cost a phone call.
  std::vector<talk::Scenario> scenarios;
  try {
    if (!o.scenarios_dir.empty()) scenarios = talk::load_scenarios(o.scenarios_dir);
    for (const auto& f : o.scenario_files) scenarios.push_back(talk::load_scenario(f));
  } catch (const std::exception& e) {
    std::cerr << "voxbridge talk: " << e.what() << "\n";
    return 2;
  }
  if (scenarios.empty()) {
    std::cerr << "voxbridge talk: no scenario given: use --scenario FILE or --scenarios DIR (see --help)\n";
    return 2;
  }
  for (const auto& sc : scenarios)
    for (const auto& t : sc.turns)
      if (!t.expect.tools.empty() && o.agent_api.empty()) {
        std::cerr << "voxbridge talk: " << sc.file << " expects tools (" << t.expect.tools.front()
                  << "), which are checked through the agent's own voxbridge: give --agent-api URL (its base URL) "
                     "and --agent-api-key (AGENT_API_KEY) if its control API has keys\n";
        return 2;
      }
  const auto& tw = config.twilio;
  if (!tw.rest_ready()) {
    std::cerr << "voxbridge talk: no Twilio account: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or "
                 "TWILIO_API_KEY/TWILIO_API_SECRET); for the local emulator also TWILIO_BASE_URL (voxbridge emulate "
                 "twilio)\n";
    return 2;
  }

  // The server that drives the calls: the one named, or our own in-process.
  std::string server = o.server;
  std::string key = o.api_key.empty() ? config.api.generate_api_key : o.api_key;
  std::thread server_thread;
  std::function<void()> stop_server;
  std::string temp_store;
  auto exit_code_if_stuck = std::make_shared<std::atomic<int>>(2);
  if (server.empty()) {
    if (config.api.generate_api_key.empty()) config.api.generate_api_key = random_key();
    key = config.api.generate_api_key;
    config.agent.default_agent = "external";
    config.agent.greeting.clear();
    // The in-process server's control API is not used: lock it with a key nobody has.
    if (config.api.api_keys.empty() && config.api.api_keys_file.empty()) config.api.api_keys = {"talk:" + random_key()};
    if (!o.in_process_store_given) {
      temp_store = (std::filesystem::temp_directory_path() / ("voxbridge-talk-" + std::to_string(::getpid()) + ".db")).string();
      config.store_path = temp_store;
    }
    std::promise<std::pair<std::uint16_t, std::function<void()>>> ready;
    auto listening = ready.get_future();
    ServeOptions so;
    so.handle_signals = false;
    so.exit_code_if_stuck = exit_code_if_stuck;
    so.on_listening = [&ready](std::uint16_t port, std::function<void()> stop) {
      ready.set_value({port, std::move(stop)});
    };
    auto exit_code = std::make_shared<std::atomic<int>>(-1);
    server_thread = std::thread([config, so, exit_code] { *exit_code = run_serve(config, so); });
    while (listening.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      if (exit_code->load() >= 0) {
        server_thread.join();
        std::cerr << "voxbridge talk: the in-process server could not start (see the log above)\n";
        return 2;
      }
    }
    auto [port, stop] = listening.get();
    stop_server = stop;
    server = "http://127.0.0.1:" + std::to_string(port);
    std::cerr << "voxbridge talk: in-process server on " << server << "\n";
  } else if (key.empty()) {
    std::cerr << "voxbridge talk: --server needs that server's API_KEY: pass --generate-api-key or set API_KEY\n";
    return 2;
  }
  std::string public_url = o.public_url.empty() ? server : o.public_url;
  while (!public_url.empty() && public_url.back() == '/') public_url.pop_back();
  while (!server.empty() && server.back() == '/') server.pop_back();

  asio::io_context ioc;
  net::HttpClientOptions gen_opts;
  gen_opts.retry.max_attempts = 1;  // a turn is not safe to repeat (it would play twice)
  net::HttpClient gen_http(ioc.get_executor(), gen_opts);
  net::HttpClient twilio_http(ioc.get_executor());
  twilio::RestClient rest(twilio_http, tw.rest());
  // Before any call is dialled (with real Twilio, a call rings somebody's phone): the
  // driving server must answer and accept the key, and the Twilio API must answer.
  if (!o.server.empty()) {
    if (const auto refused = check_server(ioc, gen_http, server, key)) {
      std::cerr << "voxbridge talk: " << *refused << "; nothing was dialled\n";
      stop_in_process(stop_server, server_thread, temp_store);
      return 2;
    }
  }
  if (!wait_for_server(tw.api_base_url, std::chrono::seconds(20), "the Twilio API")) {
    std::cerr << "voxbridge talk: nothing answers at " << tw.api_base_url << " (TWILIO_BASE_URL); nothing was dialled\n";
    stop_in_process(stop_server, server_thread, temp_store);
    return 2;
  }
  talk::TalkTarget target;
  target.server_url = server;
  target.api_key = key;
  target.voice_url = public_url + "/twilio-voice?agent=external";
  target.status_callback = public_url + "/api/v1/twilio/call-status";
  target.to = o.to;
  target.from = o.from.empty() ? tw.phone_number : o.from;
  target.agent_api = o.agent_api;
  while (!target.agent_api.empty() && target.agent_api.back() == '/') target.agent_api.pop_back();
  target.agent_api_key = o.agent_api_key;
  TerminalProgress progress(scenarios.size());
  talk::ScenarioRunner runner(gen_http, rest, target, progress);

  std::vector<talk::ScenarioResult> results(scenarios.size());
  Work work{runner, scenarios, results, 0, 0, 0, ioc};
  const int k = std::clamp(o.concurrency, 1, static_cast<int>(scenarios.size()));
  work.workers_left = k;
  for (int i = 0; i < k; ++i) vox::spawn(ioc, worker(&work), "talk scenario");

  // SIGINT/SIGTERM: complete every call at Twilio, let the scenarios end, then exit.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (runner.interrupted()) {
      std::cerr << "voxbridge talk: second signal, exiting now\n";
      std::_Exit(130);
    }
    std::cerr << "voxbridge talk: signal " << sig << ": completing the calls at Twilio, then exiting\n";
    vox::spawn(ioc, interrupt(&work), "talk scenario");
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  ioc.run();

  // The report first, then the in-process server stops: its shutdown may end the process
  // (something that would not end), and then with this exit code.
  bool ok = write_file(o.report_json, talk::report_json(results)) && write_file(o.junit, talk::junit_xml(results));
  if (!o.transcripts_dir.empty())
    for (const auto& r : results) ok = write_file(o.transcripts_dir + "/" + file_safe(r.name) + ".txt", talk::transcript(r)) && ok;
  int passed = 0;
  for (const auto& r : results) passed += r.passed ? 1 : 0;
  std::cerr << "voxbridge talk: " << results.size() << " scenario(s): " << passed << " passed, "
            << results.size() - static_cast<std::size_t>(passed) << " failed";
  if (!o.report_json.empty()) std::cerr << "; report " << o.report_json;
  if (!o.junit.empty()) std::cerr << "; JUnit " << o.junit;
  std::cerr << "\n";
  for (const auto& r : results)
    if (!r.passed) std::cerr << "\n" << talk::transcript(r);
  int code = passed == static_cast<int>(results.size()) ? 0 : 1;
  if (!ok) code = 2;
  if (runner.interrupted()) code = 130;
  exit_code_if_stuck->store(code);
  stop_in_process(stop_server, server_thread, temp_store);
  return code;
}

}  // namespace vox::app
