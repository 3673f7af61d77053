#pragma once
// What a call needs from its conversational brain, defined here where it is used: the
// agent module (and any customer code) implements it. A call hands each final transcript
// to its agent and speaks the reply. Agents never see audio, JSON or sockets.
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace vox::call {

struct CallContext {
  std::string call_sid;
  std::string stream_sid;
  std::string from;
  std::string to;
  std::map<std::string, std::string> parameters;  // <Parameter> values from TwiML
  std::string stream_url;  // the media URL this stream came in on (to resume it after a redirect)
  std::string tenant;      // the company the call belongs to ("" when none claimed it)
  std::string agent_id;    // the customer's agent id (control API), "" for built-in routing
};

struct Turn {
  int index = 0;              // 1-based turn number
  std::string transcript;     // what the caller said
  std::string interrupted_reply_heard;  // words of our last reply heard before a barge-in, if any
  bool barged_in = false;
  std::string interrupted_reply;  // the whole text of the reply the barge-in cut
};

// A tool the agent used while answering (for the call's events and store).
struct ToolNote {
  std::string name;
  std::string arguments;  // JSON text
  std::string result;     // what the tool answered (or why it failed)
  bool ok = true;
};

struct AgentReply {
  std::string text;         // empty: say nothing
  bool hangup = false;      // end the call after `text` has played
  std::string transfer_to;  // after `text` has played, move the call here (E.164 or sip:)
  std::string digits;       // after `text` has played, press these keys (0-9 * # w) and go on talking
  bool more = false;        // a part of a streamed reply: more parts follow (only `text` is used)
  // Language-model agents, on a turn's first part: request -> first token, and first
  // token -> first speakable piece (ms; -1 when not measured).
  double llm_first_token_ms = -1;
  double llm_first_piece_ms = -1;
  std::vector<ToolNote> tools;  // tools used since the previous part (recorded as events)
};

class Agent {
 public:
  virtual ~Agent() = default;
  // Returns the greeting spoken when the stream starts ("" for none).
  virtual std::string greeting() = 0;
  // Answers a turn; `reply` may be called later, from any thread: once, or for a reply
  // streamed in parts, with `more = true` for every part but the last.
  virtual void on_turn(const Turn& turn, std::function<void(AgentReply)> reply) = 0;
  virtual void on_dtmf(const std::string& /*digit*/) {}
  // Whether the agent says nothing before the caller has spoken, besides greeting(): a
  // call whose agent has no greeting then tells the caller to go first. False for agents
  // driven from outside (a client may speak into the call at any time).
  virtual bool waits_for_caller() const { return true; }
};

}  // namespace vox::call
