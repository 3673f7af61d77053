#pragma once
// Shared pieces of the Twilio end-to-end tests: the emulator binary with a scripted
// callee, a gateway pointed at it, and readers of the emulator's call records.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "e2e_support.hpp"
#include "server_process.hpp"
#include "twilio/rest_client.hpp"

namespace vox::test {

inline const std::string kAccount = "AC0123456789abcdef0123456789abcdef";
inline const std::string kToken = "e2e-twilio-token";

// The Twilio emulator binary; the callee says `callee_lines`, and what anyone hears is
// transcribed against heard_phrases().
inline std::unique_ptr<ServerProcess> twilio_emulator(const std::vector<std::string>& callee_lines,
                                                      std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--account-sid", kAccount, "--auth-token", kToken, "--voice", kVoice,
                                   "--stt-grammar", grammar_file("vox-e2e-twilio-heard.txt", heard_phrases())};
  for (const auto& l : callee_lines) args.insert(args.end(), {"--callee-say", l});
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(args, std::vector<std::string>{}, "", std::vector<std::string>{"emulate", "twilio"});
}

// A gateway with the Twilio account of the emulator. `grammar` is what it can recognise
// (default: the callers' phrases).
// `twilio_base` replaces the emulator's URL as the Twilio REST API (a fault proxy in front
// of it, say).
inline std::unique_ptr<ServerProcess> gateway_at(const std::string& twilio_base, std::vector<std::string> extra = {},
                                                 std::vector<std::string> grammar = caller_phrases(),
                                                 const std::string& greeting = kGreeting) {
  static int n = 0;
  std::vector<std::string> args = {"--stt-mode", "grammar", "--stt-grammar",
                                   grammar_file("vox-e2e-twilio-server-" + std::to_string(n++) + ".txt", grammar),
                                   "--tts-voice", kVoice, "--greeting", greeting};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(
      args, std::vector<std::string>{"TWILIO_ACCOUNT_SID=" + kAccount, "TWILIO_AUTH_TOKEN=" + kToken,
                                     "TWILIO_BASE_URL=" + twilio_base});
}

inline std::unique_ptr<ServerProcess> gateway(const ServerProcess& emulator, std::vector<std::string> extra = {},
                                              std::vector<std::string> grammar = caller_phrases(),
                                              const std::string& greeting = kGreeting) {
  return gateway_at(emulator.url(), std::move(extra), std::move(grammar), greeting);
}

inline boost::json::array emulator_calls(const ServerProcess& emulator) {
  return boost::json::parse(http("GET", emulator.url() + "/emulator/calls").body).as_array();
}

// Waits until the emulator has `n` calls, all completed, everything they heard
// transcribed, and (for calls placed through the API) the completed callback sent.
inline boost::json::array settled_calls(const ServerProcess& emulator, std::size_t n,
                                        std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto calls = emulator_calls(emulator);
    bool done = calls.size() == n;
    for (const auto& c : calls) {
      const auto& o = c.as_object();
      if (o.at("status").as_string() != "completed") done = false;
      for (const auto& h : o.at("heard").as_array())
        if (h.as_object().at("transcript").is_null()) done = false;
      bool completed_cb = o.at("direction").as_string() == "inbound";
      for (const auto& cb : o.at("callbacks").as_array())
        if (cb.as_object().at("event").as_string() == "completed") completed_cb = true;
      if (!completed_cb) done = false;
    }
    if (done || std::chrono::steady_clock::now() > deadline) return calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// What a call heard, transcribed, in order.
inline std::vector<std::string> heard_transcripts(const boost::json::object& call) {
  std::vector<std::string> out;
  for (const auto& h : call.at("heard").as_array()) out.emplace_back(h.as_object().at("transcript").as_string());
  return out;
}

// Places a call through the emulator's REST API whose TwiML comes from `server` (or from
// `server_base`, e.g. a fault proxy in front of it, when set).
inline std::string place_call(const ServerProcess& emulator, const ServerProcess& server,
                              const std::string& to = "+15550002222", const std::string& server_base = {}) {
  const std::string base = server_base.empty() ? server.url() : server_base;
  IoThread io;
  net::HttpClient http(io.context().get_executor());
  twilio::RestClient rest(http, twilio::RestConfig{kAccount, kToken, {}, emulator.url()});
  twilio::CreateCall c;
  c.to = to;
  c.from = "+15550001111";
  c.url = base + "/api/v1/elevenlabs-twilio/webhook";
  c.status_callback = base + "/api/v1/twilio/call-status";
  return io.run([&]() { return rest.create_call(c); }).sid;
}

// Hangs up call `sid` at the emulator (Twilio REST: Status=completed).
inline void hang_up_at_twilio(const ServerProcess& emulator, const std::string& sid) {
  IoThread io;
  net::HttpClient client(io.context().get_executor());
  twilio::RestClient rest(client, twilio::RestConfig{kAccount, kToken, {}, emulator.url()});
  io.run([&]() { return rest.complete_call(sid); });
}

// Counts the occurrences of `needle` in `text`.
inline std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace vox::test
