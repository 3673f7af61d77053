#include "app/commands/emulate_openai.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "app/commands/port_file.hpp"
#include "app/commands/serve_until_signal.hpp"
#include "net/server.hpp"
#include "sim/openai_emulator.hpp"

namespace vox::app {
namespace asio = boost::asio;

int run_emulate_openai(const EmulateOpenAiOptions& o) {
  sim::OpenAiEmulatorOptions eo;
  eo.api_keys = o.api_keys;
  eo.ttft_ms = o.ttft_ms;
  eo.tokens_per_second = o.tokens_per_second;
  if (!o.rules_file.empty()) {
    std::ifstream in(o.rules_file);
    if (!in) {
      std::cerr << "voxbridge emulate openai: cannot read the rules file " << o.rules_file << "\n";
      return 2;
    }
    std::stringstream text;
    text << in.rdbuf();
    eo.rules_json = text.str();
  }
  asio::io_context ioc(o.threads);
  std::unique_ptr<sim::OpenAiEmulator> emulator;
  try {
    emulator = std::make_unique<sim::OpenAiEmulator>(ioc, eo);
  } catch (const std::invalid_argument& e) {
    std::cerr << "voxbridge emulate openai: " << o.rules_file << ": " << e.what() << "\n";
    return 2;
  }
  net::Router router;
  emulator->add_routes(router);
  net::Server server(ioc, std::move(router), net::ServerLimits{});
  const auto port = server.listen(o.host, static_cast<std::uint16_t>(o.port));
  spdlog::info("OpenAI-compatible emulator listening on http://{}:{}/v1 (ttft={} ms, {} tokens/s, keys={}); point "
               "voxbridge at it with LLM_BASE_URL=http://{}:{}/v1",
               o.host, port, o.ttft_ms, o.tokens_per_second, o.api_keys.size(), o.host, port);
  serve_until_signal(ioc, server, o.threads, [&] { write_port_file(o.port_file, port); });
  return 0;
}

}  // namespace vox::app
