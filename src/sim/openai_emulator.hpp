#pragma once
// A local OpenAI-compatible model server for tests and the no-account demo: the Chat
// Completions endpoint (streamed as server-sent events, or whole), tool calls (several
// in one answer), and GET /v1/models. What it answers is decided by rules on the last
// message (a regular expression -> text and/or tool calls); with no rule matching it
// makes a plausible small-talk reply. Latency and faults can be injected, and every
// request's message list is recorded for assertions.
//
//   POST /v1/chat/completions     (also /chat/completions)
//   GET  /v1/models
// Admin (no key needed):
//   GET/DELETE /emulator/requests  [{"model", "stream", "messages": [...], "tools": ["name", ...]}]
//   POST/DELETE /emulator/rules    [{"match": "regex", "role": "user", "text": "...",
//                                    "tool_calls": [{"name": "...", "arguments": {...}}]}]
//                                  (text may use {{last}}: the last message's content)
//   POST/DELETE /emulator/faults   {"kind": "status|reset|stall|malformed", "status": 500,
//                                   "after_tokens": 0, "times": 1, "delay_ms": 0}
//   POST /emulator/latency         {"ttft_ms": 300, "tokens_per_second": 50}
#include <memory>
#include <string>
#include <vector>

#include "net/router.hpp"

namespace boost::asio {
class io_context;
}

namespace vox::sim {

struct OpenAiEmulatorOptions {
  std::vector<std::string> api_keys;  // accepted Bearer keys (empty: any, or none)
  int ttft_ms = 0;                    // delay before the first token
  double tokens_per_second = 0;       // 0: as fast as possible
  std::string rules_json;             // initial rules (the /emulator/rules shape)
};

class OpenAiEmulator {
 public:
  // Throws std::invalid_argument when rules_json is malformed.
  OpenAiEmulator(boost::asio::io_context& ioc, OpenAiEmulatorOptions options);
  ~OpenAiEmulator();
  void add_routes(net::Router& router);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace vox::sim
