#include "app/commands/port_file.hpp"
#include "app/commands/serve_until_signal.hpp"
#include "app/commands/call.hpp"
#include "app/commands/wait_for_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "net/server.hpp"
#include "sim/twilio_emulator.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/sphinx_stt.hpp"
#include "twilio/rest_client.hpp"
#include "twilio/settings.hpp"

namespace vox::app {
namespace asio = boost::asio;

int run_call(const ServerConfig& config, const CallOptions& o) {
  const auto& t = config.twilio;
  if (!t.rest_ready()) {
    std::cerr << "voxbridge call: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY + TWILIO_API_SECRET)\n";
    return 2;
  }
  std::string server = o.server_url.empty() ? config.api.base_url : o.server_url;
  while (!server.empty() && server.back() == '/') server.pop_back();
  if (server.empty()) {
    std::cerr << "voxbridge call: Twilio needs a public URL for the call's webhook: set WEBHOOK_BASE_URL or --server-url "
                 "(e.g. your ngrok https URL), with `voxbridge serve` running there\n";
    return 2;
  }
  const std::string from = o.from.empty() ? t.phone_number : o.from;
  if (from.empty()) {
    std::cerr << "voxbridge call: no caller id: give --from or set TWILIO_PHONE_NUMBER (a number of your Twilio "
                 "account; with the emulator, any E.164 number such as +15550001111)\n";
    return 2;
  }
  // Started a moment ago in the same script? Wait for the Twilio API (the emulator) and
  // the gateway whose webhook the call will fetch.
  if (!wait_for_server(t.api_base_url, std::chrono::seconds(20), "the Twilio API")) {
    std::cerr << "voxbridge call: nothing answers at " << t.api_base_url << " (TWILIO_BASE_URL)\n";
    return 1;
  }
  if (!wait_for_server(server, std::chrono::seconds(20), "the gateway")) {
    std::cerr << "voxbridge call: nothing answers at " << server << ": start voxbridge serve there first\n";
    return 1;
  }
  std::string query;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) query += std::string(query.empty() ? "?" : "&") + k + "=" + twilio::form_encode(v);
  };
  add("agent", o.agent);
  add("voice", o.voice);
  add("greeting", o.greeting);

  asio::io_context ioc;
  net::HttpClient http(ioc.get_executor());
  twilio::RestClient rest(http, t.rest());
  int exit_code = 1;
  std::atomic<bool> interrupted{false};
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) interrupted = true;
  });
  auto fut = asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    twilio::CreateCall c;
    c.to = o.to;
    c.from = from;
    c.url = server + "/api/v1/elevenlabs-twilio/webhook" + query;
    c.status_callback = server + "/api/v1/twilio/call-status";
    c.status_callback_events = {"initiated", "ringing", "answered", "completed"};
    c.status_callback_method = "POST";
    twilio::Call call;
    std::optional<std::string> failed;
    try {
      call = co_await rest.create_call(c);
    } catch (const std::exception& e) {
      failed = e.what();
    }
    if (failed) {
      std::cerr << "voxbridge call: " << *failed << "\n";
      signals.cancel();
      co_return;
    }
    std::cerr << "call " << call.sid << " to " << o.to << ": " << call.status << "\n";
    std::string last = call.status;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
    asio::steady_timer timer(ioc);
    bool hung_up = false;
    while (!call.terminal()) {
      if ((interrupted || std::chrono::steady_clock::now() > deadline) && !hung_up) {
        std::cerr << (interrupted ? "interrupted" : "timed out") << ": completing the call at Twilio\n";
        hung_up = true;
        try {
          co_await rest.complete_call(call.sid);
        } catch (const std::exception& e) {
          std::cerr << "could not complete the call: " << e.what() << "\n";
        }
      }
      timer.expires_after(std::chrono::milliseconds(500));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      try {
        call = co_await rest.fetch_call(call.sid);
      } catch (const std::exception& e) {
        std::cerr << "fetching the call failed (" << e.what() << "); retrying\n";
        continue;
      }
      if (call.status != last) {
        std::cerr << "call " << call.sid << ": " << call.status << "\n";
        last = call.status;
      }
    }
    std::cout << "{\"call_sid\":\"" << call.sid << "\",\"status\":\"" << call.status << "\",\"duration\":\""
              << call.duration << "\"}\n";
    exit_code = call.status == "completed" && !hung_up ? 0 : 1;
    signals.cancel();
  }, asio::use_future);
  ioc.run();
  fut.get();
  return exit_code;
}

int run_emulate_twilio(const EmulateTwilioOptions& o) {
  speech::EspeakSettings ts;
  ts.voice = o.voice;
  speech::EspeakTts tts(ts);
  std::unique_ptr<speech::PocketsphinxStt> stt;
  if (!o.stt_grammar.empty()) {
    speech::SphinxSettings ss;
    ss.mode = "grammar";
    ss.grammar_file = o.stt_grammar;
    stt = std::make_unique<speech::PocketsphinxStt>(ss, std::vector<std::string>{}, 1);
  }
  asio::io_context ioc(2);
  sim::TwilioEmulatorOptions eo;
  eo.account_sid = o.account_sid;
  eo.auth_token = o.auth_token;
  eo.callee_lines = o.callee_say;
  eo.callee_idle_ms = o.callee_idle_ms;
  eo.voice = o.voice;
  eo.ring_ms = o.ring_ms;
  for (const auto& n : o.numbers) {
    const auto eq = n.find('=');
    if (eq == std::string::npos || !twilio::is_e164(n.substr(0, eq))) {
      std::cerr << "--number wants NUMBER=VOICE_URL with an E.164 number, e.g. "
                   "+15550009999=http://127.0.0.1:8001/twilio-voice (got '" << n << "')\n";
      return 2;
    }
    eo.numbers[n.substr(0, eq)] = n.substr(eq + 1);
  }
  sim::TwilioEmulator emulator(ioc, eo, tts, stt.get());
  net::Router router;
  emulator.add_routes(router);
  net::Server server(ioc, std::move(router), net::ServerLimits{});
  const auto port = server.listen(o.host, static_cast<std::uint16_t>(o.port));
  spdlog::info("Twilio emulator listening on http://{}:{} account={} callee lines={}", o.host, port, o.account_sid,
               o.callee_say.size());
  serve_until_signal(
      ioc, server, 2, [&] { write_port_file(o.port_file, port); }, [&] { emulator.hang_up_all(); });
  return 0;
}

}  // namespace vox::app
