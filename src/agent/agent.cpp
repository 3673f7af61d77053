#include "agent/agent.hpp"

#include <fstream>
#include <stdexcept>

#include "agent/webhook_agent.hpp"

namespace vox::agent {
namespace {

// Replies "You said: <transcript>".
class EchoAgent final : public call::Agent {
 public:
  explicit EchoAgent(std::string greeting) : greeting_(std::move(greeting)) {}
  std::string greeting() override { return greeting_; }
  void on_turn(const call::Turn& turn, std::function<void(call::AgentReply)> reply) override {
    reply(call::AgentReply{"You said: " + turn.transcript, false});
  }

 private:
  std::string greeting_;
};

// Replies with the script's lines in order, one per turn; hangs up after the last.
class ScriptAgent final : public call::Agent {
 public:
  ScriptAgent(std::string greeting, std::vector<std::string> lines)
      : greeting_(std::move(greeting)), lines_(std::move(lines)) {}
  std::string greeting() override { return greeting_; }
  void on_turn(const call::Turn&, std::function<void(call::AgentReply)> reply) override {
    if (next_ >= lines_.size()) {
      reply(call::AgentReply{"", true});
      return;
    }
    const bool last = next_ + 1 == lines_.size();
    call::AgentReply r{lines_[next_++], last, {}, {}};
    // "Let me transfer you. [transfer +14155550123]" says the text, then transfers;
    // "One moment. [digits 1234#]" says the text, then presses the keys.
    for (const std::string directive : {"transfer", "digits"}) {
      const auto at = r.text.find("[" + directive + " ");
      if (at == std::string::npos || r.text.back() != ']') continue;
      const auto value = r.text.substr(at + directive.size() + 2, r.text.size() - at - directive.size() - 3);
      if (directive == "digits" && !valid_digits(value)) continue;  // not keys: spoken as written
      (directive == "transfer" ? r.transfer_to : r.digits) = value;
      r.text = r.text.substr(0, at);
      while (!r.text.empty() && r.text.back() == ' ') r.text.pop_back();
      r.hangup = false;
    }
    reply(std::move(r));
  }

 private:
  std::string greeting_;
  std::vector<std::string> lines_;
  std::size_t next_ = 0;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read the script file '" + path + "' (set SCRIPT_FILE or --script)");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    out.push_back(line);
  }
  return out;
}

// Says nothing by itself: replies come from the control API (REST /stream, a client
// WebSocket), which speaks into the call directly.
class ExternalAgent final : public call::Agent {
 public:
  std::string greeting() override { return {}; }
  void on_turn(const call::Turn&, std::function<void(call::AgentReply)>) override {}
  bool waits_for_caller() const override { return false; }  // the turn API invites the caller itself
};

}  // namespace

bool valid_digits(std::string_view digits) {
  if (digits.empty() || digits.size() > 64) return false;
  for (const char c : digits)
    if (!((c >= '0' && c <= '9') || c == '*' || c == '#' || c == 'w' || c == 'W')) return false;
  return true;
}

bool AgentFactory::built_in(const std::string& name) {
  for (const auto& n : names())
    if (n == name) return true;
  return false;
}

AgentFactory::AgentFactory(AgentSettings settings, net::HttpClient* http, net::HttpClient* llm_http,
                           LlmObserver* llm_observer)
    : settings_(std::move(settings)), http_(http) {
  if (!settings_.script_file.empty()) script_lines_ = read_lines(settings_.script_file);
  if (!settings_.webhook.url.empty() && !http_)
    throw std::invalid_argument("the webhook agent needs an HTTP client");
  if (llm_http) llm_ = std::make_unique<LlmAgents>(*llm_http, settings_.llm, llm_observer);
}

AgentFactory::~AgentFactory() = default;

std::unique_ptr<call::Agent> AgentFactory::create_for_stream(call::CallContext& call) const {
  // A customer's own agent id means the call is driven from outside (client socket/REST).
  if (!call.agent_id.empty() && !call.parameters.count("agent"))
    call.parameters["agent"] = built_in(call.agent_id) ? call.agent_id : "external";
  return create(call);
}

std::unique_ptr<call::Agent> AgentFactory::create(const call::CallContext& call) const {
  std::string name = settings_.default_agent;
  if (auto it = call.parameters.find("agent"); it != call.parameters.end() && !it->second.empty()) name = it->second;
  std::string greeting = settings_.greeting;
  if (auto it = call.parameters.find("greeting"); it != call.parameters.end()) greeting = it->second;
  if (name == "echo") return std::make_unique<EchoAgent>(greeting);
  if (name == "external") return std::make_unique<ExternalAgent>();
  if (name == "webhook") {
    if (settings_.webhook.url.empty() || !http_)
      throw std::invalid_argument("agent 'webhook' needs a URL: set AGENT_WEBHOOK_URL or --agent-webhook-url");
    return make_webhook_agent(*http_, settings_.webhook, call, greeting);
  }
  if (name == "llm") {
    if (!llm_) throw std::invalid_argument("agent 'llm' is not configured: set LLM_BASE_URL and LLM_MODEL");
    auto g = call.parameters.count("greeting") ? greeting
             : !settings_.llm.first_message.empty() ? settings_.llm.first_message
                                                     : std::string("Hello! How can I help you today?");
    return llm_->create(call, LlmAgents::render_prompt(g, call));
  }
  if (name == "script") {
    if (settings_.script_file.empty())
      throw std::invalid_argument("agent 'script' needs a script file: set SCRIPT_FILE or --script");
    return std::make_unique<ScriptAgent>(greeting, script_lines_);
  }
  throw std::invalid_argument("unknown agent '" + name + "' (known: echo, script, webhook, llm, external)");
}

}  // namespace vox::agent
