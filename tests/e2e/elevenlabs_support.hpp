#pragma once
// Shared pieces of the ElevenLabs end-to-end tests: the ElevenLabs emulator binary (over
// TLS with a CA made by the test, or plain HTTP) with its admin API, a gateway configured
// for it, and a conversation with the simulated Twilio caller.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "e2e_support.hpp"
#include "server_process.hpp"
#include "support/test_certs.hpp"

namespace vox::test {
namespace el {
namespace json = boost::json;

// The emulator speaks replies ("you said ...", greetings) and hears callers.
inline std::string emulator_grammar() {
  static const std::string path = [] {
    auto p = caller_phrases();
    for (const auto& h : heard_phrases()) p.push_back(h);
    return grammar_file("vox-e2e-emulator-grammar.txt", p);
  }();
  return path;
}

inline std::string server_grammar() {
  static const std::string path = grammar_file("vox-e2e-el-server-grammar.txt", caller_phrases());
  return path;
}

struct Emulator {
  explicit Emulator(bool tls = false) {
    std::vector<std::string> args = {"--stt-grammar", emulator_grammar(), "--voice", kVoice};
    if (tls) {
      pki = testing::make_test_pki();
      args.insert(args.end(), {"--tls-cert", pki->server_cert_file, "--tls-key", pki->server_key_file});
    }
    process = std::make_unique<ServerProcess>(args, std::vector<std::string>{}, "", std::vector<std::string>{"emulate", "elevenlabs"});
  }
  ~Emulator() {
    process.reset();
    if (pki) testing::remove_test_pki(*pki);
  }
  std::string admin() const { return process->url(); }  // plain http for the admin API when not TLS
  std::string base() const { return (pki ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(process->port()); }
  net::HttpResponse call(const std::string& method, const std::string& path, const std::string& body = {}) const {
    net::TlsOptions tls;
    if (pki) tls = net::TlsOptions(pki->ca_cert_file);
    return run_io([&]() { return net::http_request(method, base() + path, {}, body, std::chrono::seconds(10), tls); });
  }
  json::array requests() const { return json::parse(call("GET", "/emulator/requests").body).as_array(); }
  void fault(const json::object& f) const { ASSERT_EQ(call("POST", "/emulator/faults", json::serialize(f)).status, 200); }
  void clear() const {
    call("DELETE", "/emulator/faults");
    call("DELETE", "/emulator/requests");
  }
  std::vector<std::string> server_env(const std::string& key = "test-key") const {
    std::vector<std::string> env = {"ELEVENLABS_API_KEY=" + key, "ELEVENLABS_BASE_URL=" + base()};
    if (pki) env.push_back("ELEVENLABS_CA_FILE=" + pki->ca_cert_file);
    return env;
  }

  std::optional<testing::TestPki> pki;
  std::unique_ptr<ServerProcess> process;
};

inline std::vector<std::string> server_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--stt-mode", "grammar", "--stt-grammar", server_grammar(), "--greeting", kGreeting,
                                   "--tts-voice", kVoice};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// `greeting_wait_ms`: how long the caller waits for a greeting before it starts talking.
inline sim::CallerResult converse(const ServerProcess& server, std::vector<std::string> lines,
                                  int greeting_wait_ms = 4000) {
  sim::CallerOptions o;
  o.greeting_wait_ms = greeting_wait_ms;
  o.server_url = server.url();
  o.lines = std::move(lines);
  o.voice = kVoice;
  auto results = sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 2);
  sim::transcribe(results, Engines::get().stt);
  return results.at(0);
}

inline json::object health(const ServerProcess& server) {
  auto res = http("GET", server.url() + "/health");
  EXPECT_EQ(res.status, 200);
  return json::parse(res.body).as_object();
}

inline void expect_heard(const sim::CallerResult& r, const std::vector<std::string>& lines, const ServerProcess& server) {
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log_tail();
  ASSERT_EQ(r.heard.size(), lines.size() + 1) << server.log_tail();
  EXPECT_EQ(r.heard[0].transcript, normalized(kGreeting));
  for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(r.heard[i + 1].transcript, "you said " + lines[i]);
}

}  // namespace el
}  // namespace vox::test
