#include "app/commands/serve.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "app/commands/port_file.hpp"
#include "app/gateway.hpp"
#include "app/runtime.hpp"
#include "core/log.hpp"

namespace vox::app {
namespace asio = boost::asio;

void hide_secrets(const ServerConfig& c) {
  for (const auto& entry : c.api.api_keys) {
    // "tenant:key" entries, possibly several separated by commas.
    std::size_t at = 0;
    while (at <= entry.size()) {
      const auto comma = entry.find(',', at);
      const std::string item = entry.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      const auto colon = item.find_first_of(":= \t");
      redact_in_logs(colon == std::string::npos ? item : item.substr(colon + 1));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
  }
  for (const auto* secret : {&c.twilio.auth_token, &c.twilio.api_key_secret, &c.elevenlabs.api_key,
                             &c.api.generate_api_key, &c.agent.webhook.secret, &c.api.metrics_token, &c.agent.llm.api_key})
    redact_in_logs(*secret);
}

int run_serve(const ServerConfig& config, const ServeOptions& options) {
  // The loop and its threads outlive the services; the services outlive every coroutine
  // frame (Runtime::drain below).
  Runtime runtime(config.threads);
  std::unique_ptr<Gateway> gateway;
  std::uint16_t port = 0;
  try {
    gateway = std::make_unique<Gateway>(config, runtime);
    port = gateway->listen();
  } catch (const StartError& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
  // SIGINT/SIGTERM (or the embedding program): one shutdown, with one deadline; then the
  // loop stops.
  asio::signal_set signals(runtime.io());
  auto* gw = gateway.get();
  auto stop = [gw, &runtime, &signals](const std::string& why) {
    gw->shut_down(why, [&runtime, &signals] {
      boost::system::error_code ec;
      signals.cancel(ec);
      runtime.stop();
    });
  };
  if (options.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([stop](boost::system::error_code ec, int sig) {
      if (!ec) stop("signal " + std::to_string(sig) + " received");
    });
  }
  if (options.on_listening)
    options.on_listening(port, [&runtime, stop] { asio::post(runtime.io(), [stop] { stop("stop requested"); }); });
  // After the signal handlers: whoever waits for the port file may send SIGTERM at once.
  write_port_file(options.metrics_port_file, gateway->metrics_port());
  write_port_file(options.port_file, port);  // last: tests wait for it before using either port

  runtime.run();
  // The handlers of what shutdown cancelled run now, so every coroutine frame ends while
  // the services it uses still exist.
  const bool drained = runtime.drain(std::chrono::seconds(2));
  runtime.join_workers();
  if (!drained) {
    // Something did not end (a provider request still waiting on its timeout): its frame
    // would outlive the services. Exit without destroying anything instead.
    spdlog::warn("shutdown: operations still pending at exit; exiting without waiting for them");
    spdlog::default_logger()->flush();
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(options.exit_code_if_stuck ? options.exit_code_if_stuck->load() : 0);
  }
  gateway.reset();
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace vox::app
