#pragma once
// The built-in agents (echo, script, webhook, external) and the factory that picks one
// for a call. The interface they implement is the call's (call/agent.hpp).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/llm_agent.hpp"
#include "call/agent.hpp"

namespace vox::net {
class HttpClient;
}

namespace vox::agent {

// Returns whether `digits` may be pressed on a call: 1 to 64 of 0-9, *, #, and w (a
// half-second pause), as TwiML <Play digits> takes them.
bool valid_digits(std::string_view digits);

// The "webhook" agent: each final transcript is POSTed to `url` as JSON and the answer
// is spoken (see webhook_agent.hpp).
struct WebhookSettings {
  std::string url;
  int timeout_ms = 8000;  // no answer (or no progress of a streamed one) for this long: fallback
  std::string fallback_text = "Sorry, I could not get an answer just now. Could you say that again?";
  std::string secret;     // set: requests carry X-Voxbridge-Signature (hex HMAC-SHA256 of the body)
};

struct AgentSettings {
  std::string default_agent = "echo";  // echo | script | webhook | llm | external
  std::string greeting = "Hello! I am the voxbridge echo agent. Say something.";  // "" for none
  std::string script_file;
  WebhookSettings webhook;
  LlmSettings llm;
};

// Creates agents by name: "echo" (default), "script", "webhook" (asks an HTTP endpoint),
// "llm" (an OpenAI-compatible model, llm_agent.hpp) and "external" (silent: the call is
// driven from outside, over the control API, a client WebSocket or /generate).
class AgentFactory {
 public:
  // `http` is used by the webhook agent (required when webhook.url is set), `llm_http`
  // by the llm agent (without it, "llm" is unavailable). Throws std::invalid_argument
  // (readable) for bad scripts, tools files or LLM settings.
  explicit AgentFactory(AgentSettings settings, net::HttpClient* http = nullptr, net::HttpClient* llm_http = nullptr,
                        LlmObserver* llm_observer = nullptr);
  ~AgentFactory();
  // Returns the agent named by the call's `agent` parameter or the default; throws
  // std::invalid_argument with a readable message for unknown names or bad scripts.
  std::unique_ptr<call::Agent> create(const call::CallContext& call) const;
  // The same for a call's media stream: a call with a customer's agent_id and no `agent`
  // parameter gets that agent when it is a built-in name, else "external"; the name
  // chosen is set as the call's `agent` parameter.
  std::unique_ptr<call::Agent> create_for_stream(call::CallContext& call) const;
  static std::vector<std::string> names() { return {"echo", "script", "webhook", "llm", "external"}; }
  static bool built_in(const std::string& name);

 private:
  AgentSettings settings_;
  net::HttpClient* http_ = nullptr;
  std::vector<std::string> script_lines_;
  std::unique_ptr<LlmAgents> llm_;
};

}  // namespace vox::agent
