#pragma once
// The LLM agent's per-call state (its message history, kept to what the caller heard)
// and one turn's work: the streamed request with retries, speakable pieces handed to the
// call as they form, and the tool rounds. Internal to agent/.
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/chat_protocol.hpp"
#include "agent/llm_agent.hpp"

namespace vox::agent {

struct LlmAgents::Shared {
  Shared(net::HttpClient& h, LlmSettings s, LlmObserver* o) : http(h), settings(std::move(s)), observer(o) {}
  net::HttpClient& http;
  LlmSettings settings;
  LlmObserver* observer;
  std::vector<HttpTool> http_tools;
  std::vector<ToolSpec> specs;
  ChatOptions options;
};

// A piece the caller was sent, and which assistant message of the history it belongs to
// (kNoMessage: none, e.g. the filler phrase; kPending: the answer being written, which
// joins the history when its round ends, or when the caller's next turn begins).
inline constexpr long kNoMessage = -1;
inline constexpr long kPending = -2;
struct SpokenPiece {
  std::string text;
  long message = kNoMessage;
};

struct CallState {
  CallState(std::shared_ptr<const LlmAgents::Shared> s, call::CallContext c) : shared(std::move(s)), call(std::move(c)) {}
  std::shared_ptr<const LlmAgents::Shared> shared;
  call::CallContext call;

  std::mutex mutex;  // guards everything below (the call's strand and the turn's coroutine share it)
  std::vector<ChatMessage> history;
  int generation = 0;  // the newest turn; an older turn's coroutine stops
  bool closed = false;
  std::vector<SpokenPiece> spoken;  // everything sent to the caller since the last turn began

  // A barge-in cut `cut_piece` after `heard`: each assistant message spoken since the
  // last turn keeps only the words heard of it (one heard of nothing is dropped).
  void keep_heard(const std::string& cut_piece, const std::string& heard);
  // The answer being written joins the history as `content` (+ `calls`); pieces spoken
  // of it are tagged with its index. Nothing is added for an empty answer.
  void settle_pending(std::string content, std::vector<ToolCall> calls);
  // The pieces of the pending answer spoken so far, joined.
  std::string pending_text() const;
  // The history as sent: within the size cap (oldest turns dropped first, never the
  // system prompt, never a tool answer without the call that asked for it).
  std::vector<ChatMessage> snapshot() const;
};

// Runs one turn (on the HTTP client's executor).
boost::asio::awaitable<void> run_turn(std::shared_ptr<CallState> state, int turn, int generation,
                                      std::function<void(call::AgentReply)> reply);

}  // namespace vox::agent
