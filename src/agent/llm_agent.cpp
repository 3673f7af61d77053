#include "agent/llm_agent.hpp"

#include <stdexcept>

#include "agent/llm_turn.hpp"
#include "core/spawn.hpp"
#include "net/client.hpp"

namespace vox::agent {
namespace asio = boost::asio;

LlmAgents::LlmAgents(net::HttpClient& http, LlmSettings settings, LlmObserver* observer)
    : shared_(std::make_shared<Shared>(http, std::move(settings), observer)) {
  auto& s = shared_->settings;
  while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
  if (!net::parse_url(s.base_url + "/chat/completions")) {
    throw std::invalid_argument("LLM_BASE_URL must be an http:// or https:// URL (got \"" + s.base_url + "\")");
  }
  if (s.model.empty()) throw std::invalid_argument("LLM_MODEL is empty: name the model to use (e.g. gpt-4o-mini, llama3.2)");
  if (s.max_tool_rounds < 1 || s.max_tool_rounds > 16) throw std::invalid_argument("--llm-max-tool-rounds must be 1..16");
  if (!s.tools_file.empty()) shared_->http_tools = load_tools_file(s.tools_file);
  shared_->specs = {end_call_tool(), send_dtmf_tool()};
  if (!s.transfer_allow.empty()) shared_->specs.push_back(transfer_call_tool());
  for (const auto& t : shared_->http_tools) shared_->specs.push_back(t.spec);
  // OpenAI names the answer's limit max_completion_tokens; the other servers take max_tokens.
  const auto url = net::parse_url(s.base_url);
  shared_->options.model = s.model;
  shared_->options.temperature = s.temperature;
  shared_->options.max_tokens = s.max_tokens;
  shared_->options.max_completion_tokens = url && url->host == "api.openai.com";
}

LlmAgents::~LlmAgents() = default;

const LlmSettings& LlmAgents::settings() const { return shared_->settings; }

std::string LlmAgents::render_prompt(const std::string& prompt, const call::CallContext& call) {
  std::string out;
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    if (prompt.compare(i, 2, "{{") == 0) {
      const auto close = prompt.find("}}", i + 2);
      if (close != std::string::npos) {
        std::string name = prompt.substr(i + 2, close - i - 2);
        while (!name.empty() && name.front() == ' ') name.erase(0, 1);
        while (!name.empty() && name.back() == ' ') name.pop_back();
        std::string value;
        if (name == "from") value = call.from;
        else if (name == "to") value = call.to;
        else if (name == "call_sid") value = call.call_sid;
        else if (name == "agent_id") value = call.agent_id;
        else if (auto it = call.parameters.find(name); it != call.parameters.end()) value = it->second;
        out += value;
        i = close + 1;
        continue;
      }
    }
    out += prompt[i];
  }
  return out;
}

namespace {

class LlmAgent final : public call::Agent {
 public:
  LlmAgent(std::shared_ptr<const LlmAgents::Shared> shared, const call::CallContext& call, std::string greeting)
      : state_(std::make_shared<CallState>(std::move(shared), call)), greeting_(std::move(greeting)) {
    ChatMessage system;
    system.role = "system";
    system.content = LlmAgents::render_prompt(state_->shared->settings.system_prompt, call);
    state_->history.push_back(std::move(system));
    if (!greeting_.empty()) {
      ChatMessage hello;
      hello.role = "assistant";
      hello.content = greeting_;
      state_->history.push_back(std::move(hello));
      state_->spoken.push_back({greeting_, static_cast<long>(state_->history.size()) - 1});
    }
  }
  ~LlmAgent() override {
    std::lock_guard lock(state_->mutex);
    state_->closed = true;
  }

  std::string greeting() override { return greeting_; }

  void on_turn(const call::Turn& turn, std::function<void(call::AgentReply)> reply) override {
    int generation = 0;
    {
      std::lock_guard lock(state_->mutex);
      // An answer still being written when the caller spoke again joins the history as
      // far as it was spoken; a barge-in then cuts it to the words heard.
      state_->settle_pending(state_->pending_text(), {});
      if (turn.barged_in) state_->keep_heard(turn.interrupted_reply, turn.interrupted_reply_heard);
      state_->spoken.clear();
      ChatMessage user;
      user.role = "user";
      user.content = turn.transcript;
      state_->history.push_back(std::move(user));
      generation = ++state_->generation;
    }
    auto state = state_;
    const int index = turn.index;
    vox::spawn(state_->shared->http.executor(), run_turn(std::move(state), index, generation, std::move(reply)),
               "llm agent turn");
  }

 private:
  std::shared_ptr<CallState> state_;
  std::string greeting_;
};

}  // namespace

std::unique_ptr<call::Agent> LlmAgents::create(const call::CallContext& call, const std::string& greeting) const {
  return std::make_unique<LlmAgent>(shared_, call, greeting);
}

}  // namespace vox::agent
