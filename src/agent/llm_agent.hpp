#pragma once
// The "llm" agent: any OpenAI-compatible chat model (OpenAI, Ollama, vLLM, the llama.cpp
// server, Groq, OpenRouter) streamed into speech, with tools.
//
// Each final transcript becomes a user message; the answer is streamed (server-sent
// events) and cut into speakable pieces that are spoken while the model is still
// writing. The call's history keeps what the caller actually heard: after a barge-in the
// assistant message is cut to the heard words. Built-in tools end the call, transfer it
// (to an allow-listed target) and press keys; HTTP tools come from a file
// (llm_tools.hpp). Failures before the first token are retried within a budget; a
// failure later speaks what was produced plus a fallback phrase. The call goes on.
#include <memory>
#include <string>
#include <vector>

#include "agent/llm_tools.hpp"
#include "call/agent.hpp"

namespace vox::net {
class HttpClient;
}

namespace vox::agent {

struct LlmSettings {
  std::string base_url = "https://api.openai.com/v1";  // LLM_BASE_URL
  std::string api_key;                                 // LLM_API_KEY or OPENAI_API_KEY
  std::string model = "gpt-4o-mini";                   // LLM_MODEL
  double temperature = -1;                             // < 0: the server's default
  int max_tokens = 0;                                  // 0: the server's default
  std::string system_prompt =
      "You are a friendly voice assistant on a phone call. Answer in one to three short spoken sentences, "
      "without lists, markdown or emoji.";
  std::string first_message;  // spoken when the call starts ("" : the agent greeting)
  int first_token_timeout_ms = 10000;  // no first token (or a stall mid-stream) for this long: a failure
  int retry_budget_ms = 4000;          // retries before the first token stop when this much time has passed
  int max_attempts = 3;
  std::string fallback_text = "Sorry, I lost my train of thought. Could you say that again?";
  std::size_t history_max_chars = 32000;  // older turns are dropped beyond this; the system prompt never is
  std::size_t max_answer_chars = 4000;    // an answer is cut here
  int max_tool_rounds = 4;
  std::string tools_file;                    // user HTTP tools (YAML or JSON)
  std::vector<std::string> transfer_allow;   // targets transfer_call may use (exact, or a prefix ending in *)
  int filler_after_ms = 1000;                // tools running longer than this: the filler is spoken
  std::string filler_text = "One moment, please.";
};

// What an LLM agent reports per turn (for /metrics).
struct LlmObserver {
  virtual ~LlmObserver() = default;
  virtual void request_failed(const std::string& /*reason*/) {}
  virtual void tool_called(const std::string& /*name*/, bool /*ok*/) {}
};

// Shared by every LLM call of a server: settings, tools, the pooled HTTP client.
class LlmAgents {
 public:
  // Throws std::invalid_argument (readable) for a bad tools file or settings.
  LlmAgents(net::HttpClient& http, LlmSettings settings, LlmObserver* observer = nullptr);
  ~LlmAgents();
  std::unique_ptr<call::Agent> create(const call::CallContext& call, const std::string& greeting) const;
  const LlmSettings& settings() const;
  // The system prompt with {{from}}, {{to}}, {{call_sid}}, {{agent_id}} and the call's
  // parameters ({{name}}) filled in.
  static std::string render_prompt(const std::string& prompt, const call::CallContext& call);

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace vox::agent
