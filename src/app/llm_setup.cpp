#include "app/llm_setup.hpp"

#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "agent/chat_protocol.hpp"
#include "app/engines.hpp"
#include "core/metrics.hpp"
#include "core/spawn.hpp"
#include "net/client.hpp"
#include "net/server.hpp"
#include "sim/openai_emulator.hpp"

namespace vox::app {
namespace asio = boost::asio;

namespace {
constexpr const char* kDefaultBase = "https://api.openai.com/v1";

class Counters final : public agent::LlmObserver {
 public:
  explicit Counters(metrics::Registry& r)
      : failures_(r.counter("voxbridge_llm_failures_total",
                            "LLM agent answers that failed (after retries) and spoke the fallback phrase")),
        tools_ok_(r.counter("voxbridge_llm_tool_calls_total", "LLM agent tool calls that succeeded")),
        tools_failed_(r.counter("voxbridge_llm_tool_errors_total",
                                "LLM agent tool calls that failed (unknown tool, invalid arguments, tool errors)")) {}
  void request_failed(const std::string&) override { failures_.inc(); }
  void tool_called(const std::string&, bool ok) override { (ok ? tools_ok_ : tools_failed_).inc(); }

 private:
  metrics::Counter& failures_;
  metrics::Counter& tools_ok_;
  metrics::Counter& tools_failed_;
};
}  // namespace

struct LlmSetup::Impl {
  explicit Impl(metrics::Registry& r) : counters(r) {}
  Counters counters;
  std::unique_ptr<net::HttpClient> http;
  std::unique_ptr<sim::OpenAiEmulator> emulator;
  std::unique_ptr<net::Server> emulator_server;
};

LlmSetup::LlmSetup(agent::LlmSettings& settings, asio::io_context& ioc, metrics::Registry& metrics)
    : impl_(std::make_unique<Impl>(metrics)) {
  if (settings.api_key.empty() && settings.base_url == kDefaultBase) {
    // No model server configured: a local emulator answers, so the llm agent works
    // without an account (small talk and the tools its rules ask for).
    impl_->emulator = std::make_unique<sim::OpenAiEmulator>(ioc, sim::OpenAiEmulatorOptions{});
    net::Router router;
    impl_->emulator->add_routes(router);
    impl_->emulator_server = std::make_unique<net::Server>(ioc, std::move(router), net::ServerLimits{});
    const auto port = impl_->emulator_server->listen("127.0.0.1", 0);
    settings.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    if (settings.model.empty()) settings.model = "emulated";
  }
  // One pool of keep-alive connections; retries are the agent's (before the first token only).
  net::HttpClientOptions o;
  o.retry.max_attempts = 1;
  o.read_timeout = std::chrono::milliseconds(settings.first_token_timeout_ms);
  o.connect_timeout = std::min(o.connect_timeout, o.read_timeout);
  o.idle_ttl = std::chrono::seconds(55);
  impl_->http = std::make_unique<net::HttpClient>(ioc.get_executor(), o);
}

LlmSetup::~LlmSetup() = default;

net::HttpClient& LlmSetup::http() { return *impl_->http; }
agent::LlmObserver* LlmSetup::observer() { return &impl_->counters; }
bool LlmSetup::emulated() const { return impl_->emulator != nullptr; }

void LlmSetup::shutdown() {
  if (impl_->emulator_server) impl_->emulator_server->shutdown();
}

void LlmSetup::abort() {
  if (impl_->emulator_server) impl_->emulator_server->abort_all();
}

void LlmSetup::check(Engines& engines, const agent::LlmSettings& settings, asio::io_context& ioc, bool report) {
  if (emulated()) {
    if (report) {
      spdlog::warn("llm agent: no LLM_API_KEY or LLM_BASE_URL, so a built-in model emulator at {} answers (small "
                   "talk). Set LLM_API_KEY (OpenAI) or LLM_BASE_URL (+ LLM_MODEL) for a real model",
                   settings.base_url);
    }
    engines.set_status("llm", "ok");
    return;
  }
  if (report) spdlog::info("llm agent: model {} at {}", settings.model, settings.base_url);
  engines.set_status("llm", "checking");
  auto* e = &engines;
  auto* http = impl_->http.get();
  const std::string url = settings.base_url + "/models";
  const std::string key = settings.api_key;
  vox::spawn(ioc, [e, http, url, key]() -> asio::awaitable<void> {
    net::ClientRequest req;
    req.method = "GET";
    req.url = url;
    if (!key.empty()) req.headers.emplace_back("Authorization", "Bearer " + key);
    try {
      auto res = co_await http->send(std::move(req));
      if (res.status >= 200 && res.status < 300) {
        e->set_status("llm", "ok");
      } else if (res.status == 401 || res.status == 403) {
        e->set_status("llm", "rejected API key: " + agent::error_message_of(res.body));
        spdlog::error("llm agent: the model server refused the key ({}); check LLM_API_KEY", res.status);
      } else {
        // Some servers have no /models; the model may still answer.
        e->set_status("llm", "ok");
        spdlog::info("llm agent: GET {} answered {}; not checked further", url, res.status);
      }
    } catch (const std::exception& err) {
      e->set_status("llm", std::string("unreachable: ") + err.what());
      spdlog::warn("llm agent: the model server at {} is unreachable ({}); calls will retry and speak the fallback "
                   "phrase until it answers", url, err.what());
    }
  }, "LLM server check");
}

}  // namespace vox::app
