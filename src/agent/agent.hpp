#pragma once
// The call's conversational brain. A call hands each final transcript to its agent and
// speaks the reply. Agents never see audio, JSON or sockets.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vox::net {
class HttpClient;
}

namespace vox::agent {

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
};

struct Reply {
  std::string text;       // empty: say nothing
  bool hangup = false;    // end the call after `text` has played
  std::string transfer_to;  // after `text` has played, move the call here (E.164 or sip:)
  std::string digits;       // after `text` has played, press these keys (0-9 * # w) and go on talking
  bool more = false;        // a part of a streamed reply: more parts follow (only `text` is used)
};

// Returns whether `digits` may be pressed on a call: 1 to 64 of 0-9, *, #, and w (a
// half-second pause), as TwiML <Play digits> takes them.
bool valid_digits(std::string_view digits);

class Agent {
 public:
  virtual ~Agent() = default;
  // Returns the greeting spoken when the stream starts ("" for none).
  virtual std::string greeting() = 0;
  // Answers a turn; `reply` may be called later, from any thread: once, or for a reply
  // streamed in parts, with `more = true` for every part but the last.
  virtual void on_turn(const Turn& turn, std::function<void(Reply)> reply) = 0;
  virtual void on_dtmf(const std::string& /*digit*/) {}
};

// The "webhook" agent: each final transcript is POSTed to `url` as JSON and the answer
// is spoken (see webhook_agent.hpp).
struct WebhookSettings {
  std::string url;
  int timeout_ms = 8000;  // no answer (or no progress of a streamed one) for this long: fallback
  std::string fallback_text = "Sorry, I could not get an answer just now. Could you say that again?";
  std::string secret;     // set: requests carry X-Voxbridge-Signature (hex HMAC-SHA256 of the body)
};

struct AgentSettings {
  std::string default_agent = "echo";
  std::string greeting;
  std::string script_file;
  WebhookSettings webhook;
};

// Creates agents by name: "echo" (default), "script", "webhook" (asks an HTTP endpoint)
// and "external" (silent: the call is driven from outside, over the control API, a
// client WebSocket or /generate).
class AgentFactory {
 public:
  // `http` is used by the webhook agent (required when webhook.url is set).
  explicit AgentFactory(AgentSettings settings, net::HttpClient* http = nullptr);
  // Returns the agent named by the call's `agent` parameter or the default; throws
  // std::invalid_argument with a readable message for unknown names or bad scripts.
  std::unique_ptr<Agent> create(const CallContext& call) const;
  static std::vector<std::string> names() { return {"echo", "script", "webhook", "external"}; }
  static bool built_in(const std::string& name);

 private:
  AgentSettings settings_;
  net::HttpClient* http_ = nullptr;
  std::vector<std::string> script_lines_;
};

}  // namespace vox::agent
