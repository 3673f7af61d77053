#include "agent/chat_protocol.hpp"
#include "core/json_text.hpp"

#include <boost/json.hpp>

namespace vox::agent {
namespace json = boost::json;

namespace {

json::value tool_calls_json(const std::vector<ToolCall>& calls) {
  json::array a;
  for (const auto& c : calls) {
    a.push_back(json::object{{"id", c.id},
                             {"type", "function"},
                             {"function", json::object{{"name", c.name}, {"arguments", c.arguments}}}});
  }
  return a;
}

std::string string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// Reads the choices[0] of a chunk or completion: `delta` (streamed) or `message` (whole).
bool read_choice(const json::object& root, const char* field, ChatChunk& out, std::string& why) {
  const auto* choices = root.if_contains("choices");
  if (!choices || !choices->is_array()) {
    why = "no \"choices\" array";
    return false;
  }
  if (choices->as_array().empty()) return true;  // e.g. the usage-only chunk at the end
  const auto& c0 = choices->as_array().front();
  if (!c0.is_object()) {
    why = "a choice is not an object";
    return false;
  }
  const auto& choice = c0.as_object();
  if (const auto* fr = choice.if_contains("finish_reason"); fr && fr->is_string()) out.finish_reason = fr->as_string();
  const auto* d = choice.if_contains(field);
  if (!d || d->is_null()) return true;
  if (!d->is_object()) {
    why = std::string("\"") + field + "\" is not an object";
    return false;
  }
  const auto& delta = d->as_object();
  out.content = string_field(delta, "content");
  const auto* tcs = delta.if_contains("tool_calls");
  if (!tcs || tcs->is_null()) return true;
  if (!tcs->is_array()) {
    why = "\"tool_calls\" is not an array";
    return false;
  }
  int position = 0;
  for (const auto& tv : tcs->as_array()) {
    if (!tv.is_object()) {
      why = "a tool call is not an object";
      return false;
    }
    const auto& t = tv.as_object();
    ToolCallDelta td;
    td.index = position++;
    if (const auto* ix = t.if_contains("index"); ix && ix->is_int64()) td.index = static_cast<int>(ix->as_int64());
    td.id = string_field(t, "id");
    if (const auto* f = t.if_contains("function"); f && f->is_object()) {
      td.name = string_field(f->as_object(), "name");
      const auto* args = f->as_object().if_contains("arguments");
      if (args && args->is_string()) td.arguments = args->as_string();
      else if (args && args->is_object()) td.arguments = vox::json_text(*args);  // some servers send an object
    }
    out.tool_calls.push_back(std::move(td));
  }
  return true;
}

std::optional<ChatChunk> parse_object(std::string_view text, const char* field, std::string& why) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    why = "not a JSON object";
    return std::nullopt;
  }
  const auto& o = v.as_object();
  ChatChunk chunk;
  if (const auto* e = o.if_contains("error"); e && !e->is_null()) {
    chunk.error = e->is_object() ? string_field(e->as_object(), "message") : std::string("error");
    if (chunk.error.empty()) chunk.error = "error";
    return chunk;
  }
  if (!read_choice(o, field, chunk, why)) return std::nullopt;
  return chunk;
}

}  // namespace

std::string chat_request_body(const ChatOptions& options, const std::vector<ChatMessage>& messages,
                              const std::vector<ToolSpec>& tools) {
  json::array msgs;
  for (const auto& m : messages) {
    json::object o{{"role", m.role}};
    if (m.role == "assistant" && !m.tool_calls.empty()) {
      o["content"] = m.content.empty() ? json::value(nullptr) : json::value(m.content);
      o["tool_calls"] = tool_calls_json(m.tool_calls);
    } else {
      o["content"] = m.content;
    }
    if (m.role == "tool") o["tool_call_id"] = m.tool_call_id;
    msgs.push_back(std::move(o));
  }
  json::object body{{"model", options.model}, {"messages", std::move(msgs)}, {"stream", options.stream}};
  if (options.temperature >= 0) body["temperature"] = options.temperature;
  if (options.max_tokens > 0) body[options.max_completion_tokens ? "max_completion_tokens" : "max_tokens"] = options.max_tokens;
  if (!tools.empty()) {
    json::array ts;
    for (const auto& t : tools) {
      boost::system::error_code ec;
      auto params = json::parse(t.parameters_json, ec);
      if (ec) params = json::object{{"type", "object"}, {"properties", json::object{}}};
      ts.push_back(json::object{
          {"type", "function"},
          {"function", json::object{{"name", t.name}, {"description", t.description}, {"parameters", std::move(params)}}}});
    }
    body["tools"] = std::move(ts);
    body["tool_choice"] = "auto";
  }
  return vox::json_text(body);
}

bool SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the \n of a \r\n
    }
    if (c == '\r' || c == '\n') {
      line(partial_, out);
      partial_.clear();
      after_cr_ = c == '\r';
      continue;
    }
    partial_ += c;
    if (partial_.size() + current_.data.size() > max_event_) return false;
  }
  return true;
}

void SseParser::line(std::string_view l, std::vector<SseEvent>& out) {
  if (l.empty()) {
    if (has_data_) out.push_back(std::move(current_));
    current_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (l.front() == ':') return;  // a comment (keep-alives)
  const auto colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event = std::string(value);
  }
}

std::optional<ChatChunk> parse_chat_chunk(std::string_view data, std::string& why) {
  std::string_view d = data;
  while (!d.empty() && (d.back() == ' ' || d.back() == '\n')) d.remove_suffix(1);
  if (d == "[DONE]") {
    ChatChunk c;
    c.done = true;
    return c;
  }
  return parse_object(d, "delta", why);
}

std::optional<ChatChunk> parse_chat_completion(std::string_view body, std::string& why) {
  return parse_object(body, "message", why);
}

bool ToolCallAssembler::add(const ToolCallDelta& d, std::size_t max_argument_bytes) {
  if (d.index < 0 || d.index > 31) return false;
  const auto ix = static_cast<std::size_t>(d.index);
  if (calls_.size() <= ix) calls_.resize(ix + 1);
  auto& c = calls_[ix];
  if (!d.id.empty()) c.id = d.id;
  if (!d.name.empty()) c.name += d.name;
  c.arguments += d.arguments;
  return c.arguments.size() <= max_argument_bytes && c.name.size() <= 256;
}

std::vector<ToolCall> ToolCallAssembler::take() {
  std::vector<ToolCall> out;
  for (auto& c : calls_) {
    if (c.name.empty() && c.arguments.empty() && c.id.empty()) continue;
    out.push_back(std::move(c));
  }
  calls_.clear();
  return out;
}

std::string error_message_of(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    const auto* e = v.as_object().if_contains("error");
    if (e && e->is_object()) {
      auto m = string_field(e->as_object(), "message");
      if (!m.empty()) return m.substr(0, 300);
    }
    if (e && e->is_string()) return std::string(e->as_string()).substr(0, 300);
  }
  return std::string(body.substr(0, 200));
}

}  // namespace vox::agent
