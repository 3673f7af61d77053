#pragma once
// The OpenAI Chat Completions protocol, as spoken by OpenAI, Ollama, vLLM, the llama.cpp
// server, Groq and OpenRouter: the request body (messages, tools, streaming), the
// server-sent event stream of `chat.completion.chunk`s and the tool calls streamed in
// pieces inside it. JSON is parsed into these structs here, at the edge.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vox::agent {

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text, as the model wrote it
};

struct ChatMessage {
  std::string role;  // system | user | assistant | tool
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant: the calls it asked for
  std::string tool_call_id;          // tool: which call this answers
};

struct ToolSpec {
  std::string name;
  std::string description;
  std::string parameters_json = R"({"type":"object","properties":{}})";  // JSON Schema
};

struct ChatOptions {
  std::string model;
  double temperature = -1;     // < 0: not sent (the server's default)
  int max_tokens = 0;          // 0: not sent
  bool max_completion_tokens = false;  // name the limit max_completion_tokens (OpenAI) instead of max_tokens
  bool stream = true;
};

// The JSON body of POST {base}/chat/completions.
std::string chat_request_body(const ChatOptions& options, const std::vector<ChatMessage>& messages,
                              const std::vector<ToolSpec>& tools);

// One server-sent event.
struct SseEvent {
  std::string event;  // "" for the default ("message")
  std::string data;   // data lines joined with '\n'
};

// Reads a text/event-stream incrementally (lines end with \n, \r\n or \r; comments and
// unknown fields are ignored; an event is dispatched at a blank line).
class SseParser {
 public:
  explicit SseParser(std::size_t max_event_bytes = 1u << 20) : max_event_(max_event_bytes) {}
  // Appends bytes and the events they complete to `out`; false once an event (or a
  // line) grew beyond the limit: the stream is then unusable.
  bool feed(std::string_view bytes, std::vector<SseEvent>& out);

 private:
  void line(std::string_view l, std::vector<SseEvent>& out);
  std::string partial_;
  SseEvent current_;
  bool has_data_ = false;
  bool after_cr_ = false;
  std::size_t max_event_;
};

// A piece of a tool call as streamed: the first piece of each call carries its id and
// name, later ones continue `arguments`; `index` says which call it belongs to.
struct ToolCallDelta {
  int index = 0;
  std::string id;
  std::string name;
  std::string arguments;
};

// What one `data:` event says.
struct ChatChunk {
  bool done = false;               // the "[DONE]" sentinel
  std::string content;             // text to append
  std::vector<ToolCallDelta> tool_calls;
  std::string finish_reason;       // stop | length | tool_calls | content_filter ("" while streaming)
  std::string error;               // an error object sent in the stream (its message)
};

// Parses one event's data; nullopt (with `why`) when it is not a chunk of the protocol.
std::optional<ChatChunk> parse_chat_chunk(std::string_view data, std::string& why);

// A whole (non-streamed) chat.completion answer, as one chunk; nullopt when malformed.
std::optional<ChatChunk> parse_chat_completion(std::string_view body, std::string& why);

// Puts streamed tool-call pieces back together, in the order of their indexes.
class ToolCallAssembler {
 public:
  // False when a piece is malformed (an index out of range, arguments beyond the limit).
  bool add(const ToolCallDelta& d, std::size_t max_argument_bytes = 64u << 10);
  std::vector<ToolCall> take();
  bool empty() const { return calls_.empty(); }

 private:
  std::vector<ToolCall> calls_;
};

// The error message of an OpenAI-style error body ({"error": {"message": ...}}), or
// the start of the body when it has none.
std::string error_message_of(std::string_view body);

}  // namespace vox::agent
