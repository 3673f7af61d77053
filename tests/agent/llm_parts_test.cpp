// The LLM agent's pieces on their own: the speakable splitter (agent/speakable.hpp), the
// Chat Completions protocol (agent/chat_protocol.hpp: request bodies, server-sent events,
// chunks, streamed tool calls) and the tools (agent/llm_tools.hpp: argument validation,
// tools files, the transfer allow-list).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/chat_protocol.hpp"
#include "agent/llm_agent.hpp"
#include "agent/llm_tools.hpp"
#include "agent/speakable.hpp"
#include "core/log.hpp"

namespace vox::agent {
namespace {
namespace json = boost::json;
using Pieces = std::vector<std::string>;

// Feeds `text` to a splitter in pieces of `step` characters; returns every piece.
Pieces split(const std::string& text, std::size_t step, int clause_words = 4) {
  SpeakableSplitter s(clause_words);
  Pieces out;
  for (std::size_t i = 0; i < text.size(); i += step) {
    for (auto& p : s.feed(text.substr(i, step))) out.push_back(std::move(p));
  }
  if (auto rest = s.finish(); !rest.empty()) out.push_back(std::move(rest));
  return out;
}

TEST(Speakable, FirstPieceMayEndAtAClauseLaterOnesAtSentences) {
  const std::string text = "Well, of course I can help you with that, it is easy. First, open the app, then tap Settings. Done!";
  for (std::size_t step : {1u, 3u, 7u, 200u}) {
    EXPECT_EQ(split(text, step), (Pieces{"Well, of course I can help you with that,", "it is easy.",
                                         "First, open the app, then tap Settings.", "Done!"}))
        << "step " << step;
  }
}

TEST(Speakable, NeverCutsInsideNumbersAbbreviationsUrlsOrAddresses) {
  const std::string text =
      "It costs 3.50 dollars, or 1,000 cents at 10:30 a.m. today. Dr. Smith and J. R. Jones agree, e.g. on this. "
      "Write to help@example.com or visit https://example.com/a.b?c=1. Thanks.";
  EXPECT_EQ(split(text, 1, 0),
            (Pieces{"It costs 3.50 dollars, or 1,000 cents at 10:30 a.m. today.",
                    "Dr. Smith and J. R. Jones agree, e.g. on this.",
                    "Write to help@example.com or visit https://example.com/a.b?c=1.", "Thanks."}));
}

TEST(Speakable, AShortClauseWaitsForMoreWordsAndALastMarkWaitsForTheNextCharacter) {
  SpeakableSplitter s(4);
  EXPECT_TRUE(s.feed("Yes, ").empty());     // one word before the comma: too short a clause
  EXPECT_TRUE(s.feed("I see").empty());
  EXPECT_TRUE(s.feed(".").empty());         // "." may still become ".5" or "..."
  EXPECT_EQ(s.feed(" Next"), Pieces{"Yes, I see."});
  EXPECT_EQ(s.finish(), "Next");
  EXPECT_EQ(s.finish(), "");
  EXPECT_EQ(s.pieces(), 2);
}

TEST(Speakable, LineBreaksEndPiecesAndBlankOnesVanish) {
  EXPECT_EQ(split("One\n\nTwo three\n  \nFour", 2, 0), (Pieces{"One", "Two three", "Four"}));
  EXPECT_EQ(split("   ", 1), Pieces{});
}

TEST(ChatProtocol, RequestBodyCarriesMessagesToolsAndOptions) {
  ChatOptions o;
  o.model = "m1";
  o.temperature = 0.5;
  o.max_tokens = 200;
  std::vector<ChatMessage> msgs = {{"system", "be brief", {}, ""},
                                   {"user", "hi", {}, ""},
                                   {"assistant", "", {{"call_1", "lookup", R"({"a":1})"}}, ""},
                                   {"tool", "found", {}, "call_1"}};
  auto body = json::parse(chat_request_body(o, msgs, {end_call_tool()})).as_object();
  EXPECT_EQ(body.at("model").as_string(), "m1");
  EXPECT_TRUE(body.at("stream").as_bool());
  EXPECT_DOUBLE_EQ(body.at("temperature").as_double(), 0.5);
  EXPECT_EQ(body.at("max_tokens").as_int64(), 200);
  EXPECT_FALSE(body.contains("max_completion_tokens"));
  const auto& m = body.at("messages").as_array();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_TRUE(m[2].as_object().at("content").is_null());
  EXPECT_EQ(m[2].as_object().at("tool_calls").as_array()[0].as_object().at("function").as_object().at("arguments").as_string(),
            R"({"a":1})");
  EXPECT_EQ(m[3].as_object().at("tool_call_id").as_string(), "call_1");
  const auto& tool = body.at("tools").as_array()[0].as_object();
  EXPECT_EQ(tool.at("type").as_string(), "function");
  EXPECT_EQ(tool.at("function").as_object().at("name").as_string(), "end_call");
  EXPECT_TRUE(tool.at("function").as_object().at("parameters").is_object());

  o.max_completion_tokens = true;
  o.temperature = -1;
  body = json::parse(chat_request_body(o, msgs, {})).as_object();
  EXPECT_EQ(body.at("max_completion_tokens").as_int64(), 200);
  EXPECT_FALSE(body.contains("temperature"));
  EXPECT_FALSE(body.contains("tools"));
}

TEST(ChatProtocol, SseEventsSurviveAnySplitAndEveryLineEnding) {
  const std::string stream =
      ": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: line1\ndata: line2\n\ndata: [DONE]\r\r";
  for (std::size_t step : {1u, 2u, 5u, 1000u}) {
    SseParser p;
    std::vector<SseEvent> events;
    for (std::size_t i = 0; i < stream.size(); i += step) ASSERT_TRUE(p.feed(stream.substr(i, step), events));
    ASSERT_EQ(events.size(), 3u) << "step " << step;
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[1].event, "x");
    EXPECT_EQ(events[1].data, "line1\nline2");
    EXPECT_EQ(events[2].data, "[DONE]");
  }
  SseParser small(64);
  std::vector<SseEvent> events;
  EXPECT_FALSE(small.feed("data: " + std::string(100, 'x'), events));
}

TEST(ChatProtocol, ChunksGiveTextToolCallPiecesFinishReasonsAndErrors) {
  std::string why;
  auto c = parse_chat_chunk(R"({"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]})", why);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->content, "Hel");
  c = parse_chat_chunk(
      R"({"choices":[{"delta":{"tool_calls":[{"index":1,"id":"c2","type":"function","function":{"name":"f","arguments":"{\"x\""}}]}}]})",
      why);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->tool_calls.size(), 1u);
  EXPECT_EQ(c->tool_calls[0].index, 1);
  EXPECT_EQ(c->tool_calls[0].id, "c2");
  EXPECT_EQ(c->tool_calls[0].arguments, "{\"x\"");
  c = parse_chat_chunk(R"({"choices":[{"delta":{},"finish_reason":"tool_calls"}]})", why);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->finish_reason, "tool_calls");
  c = parse_chat_chunk("[DONE]", why);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->done);
  c = parse_chat_chunk(R"({"error":{"message":"overloaded","type":"server_error"}})", why);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->error, "overloaded");
  c = parse_chat_chunk(R"({"choices":[],"usage":{"total_tokens":5}})", why);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->content, "");
  EXPECT_FALSE(parse_chat_chunk("{\"choices\": [ not json", why));
  EXPECT_FALSE(parse_chat_chunk(R"({"id":"x"})", why));
  EXPECT_NE(why, "");

  auto whole = parse_chat_completion(
      R"({"choices":[{"message":{"role":"assistant","content":"Hi there."},"finish_reason":"stop"}]})", why);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->content, "Hi there.");
  EXPECT_EQ(error_message_of(R"({"error":{"message":"Incorrect API key provided."}})"), "Incorrect API key provided.");
}

TEST(ChatProtocol, ToolCallPiecesAreAssembledByIndex) {
  ToolCallAssembler a;
  ASSERT_TRUE(a.add({0, "c1", "lookup", ""}));
  ASSERT_TRUE(a.add({1, "c2", "end_call", "{}"}));
  ASSERT_TRUE(a.add({0, "", "", "{\"order\":"}));
  ASSERT_TRUE(a.add({0, "", "", "\"42\"}"}));
  auto calls = a.take();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].id, "c1");
  EXPECT_EQ(calls[0].name, "lookup");
  EXPECT_EQ(calls[0].arguments, "{\"order\":\"42\"}");
  EXPECT_EQ(calls[1].name, "end_call");
  EXPECT_TRUE(a.empty());
  EXPECT_FALSE(a.add({99, "", "x", ""}));
  EXPECT_FALSE(a.add({0, "", "x", std::string(70000, 'a')}));
}

TEST(LlmTools, ArgumentsAreCheckedAgainstTheSchema) {
  const std::string schema = R"({"type":"object","properties":{
      "order":{"type":"string","minLength":2},
      "count":{"type":"integer","minimum":1,"maximum":5},
      "mode":{"enum":["fast","slow"]},
      "tags":{"type":"array","items":{"type":"string"}}},
    "required":["order"],"additionalProperties":false})";
  EXPECT_EQ(validate_arguments(schema, R"({"order":"42","count":2,"mode":"fast","tags":["a"]})"), "");
  EXPECT_EQ(validate_arguments(schema, R"({"count":2})"), "order: required");
  EXPECT_EQ(validate_arguments(schema, R"({"order":42})"), "order: must be string, got integer");
  EXPECT_EQ(validate_arguments(schema, R"({"order":"4"})"), "order: too short");
  EXPECT_EQ(validate_arguments(schema, R"({"order":"42","count":9})"), "count: above 5");
  EXPECT_EQ(validate_arguments(schema, R"({"order":"42","count":1.5})"), "count: must be integer, got number");
  EXPECT_EQ(validate_arguments(schema, R"({"order":"42","mode":"x"})"), R"(mode: must be one of ["fast","slow"])");
  EXPECT_EQ(validate_arguments(schema, R"({"order":"42","tags":[1]})"), "tags[0]: must be string, got integer");
  EXPECT_EQ(validate_arguments(schema, R"({"order":"42","extra":true})"), "extra: not a known parameter");
  EXPECT_EQ(validate_arguments(schema, R"({"order": )"), "the arguments are not valid JSON");
  EXPECT_EQ(validate_arguments(schema, "[1]"), "arguments: must be object, got array");
}

TEST(LlmTools, ToolsFilesAreReadWithTheirEnvironmentAndRefusedWithAReason) {
  const auto dir = std::filesystem::temp_directory_path() / ("vox-tools-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ::setenv("VOX_TEST_TOOL_TOKEN", "s3cret", 1);
  const auto good = (dir / "tools.yaml").string();
  std::ofstream(good) << "tools:\n"
                         "  - name: lookup_order\n"
                         "    description: Looks up an order.\n"
                         "    parameters: {type: object, properties: {order: {type: string}, n: {type: integer, minimum: 1}}, "
                         "required: [order], additionalProperties: false}\n"
                         "    url: http://127.0.0.1:9/orders\n"
                         "    method: GET\n"
                         "    headers: {Authorization: \"Bearer ${VOX_TEST_TOOL_TOKEN}\"}\n"
                         "    timeout_ms: 2500\n";
  auto tools = load_tools_file(good);
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0].spec.name, "lookup_order");
  EXPECT_EQ(tools[0].method, "GET");
  EXPECT_EQ(tools[0].timeout_ms, 2500);
  ASSERT_EQ(tools[0].headers.size(), 1u);
  EXPECT_EQ(tools[0].headers[0].second, "Bearer s3cret");
  // A token that came from the environment never reaches a log line.
  EXPECT_EQ(log_safe("Authorization: Bearer s3cret"), "Authorization: Bearer ***");
  const auto schema = json::parse(tools[0].spec.parameters_json).as_object();
  EXPECT_EQ(schema.at("properties").as_object().at("n").as_object().at("minimum").as_int64(), 1);
  EXPECT_FALSE(schema.at("additionalProperties").as_bool());
  EXPECT_EQ(validate_arguments(tools[0].spec.parameters_json, R"({"order":"1","n":0})"), "n: below 1");

  // JSON works too.
  const auto as_json = (dir / "tools.json").string();
  std::ofstream(as_json) << R"({"tools":[{"name":"a","url":"https://x.example/a","parameters":{"type":"object"}}]})";
  EXPECT_EQ(load_tools_file(as_json).at(0).method, "POST");

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"tools:\n  - name: end_call\n    url: http://x/\n", "built-in"},
      {"tools:\n  - name: \"has space\"\n    url: http://x/\n", "\"name\""},
      {"tools:\n  - name: a\n    url: ftp://x/\n", "\"url\""},
      {"tools:\n  - name: a\n    url: http://x/\n    method: PUT\n", "\"method\""},
      {"tools:\n  - name: a\n    url: http://x/\n    timeout_ms: 5\n", "timeout_ms"},
      {"tools: {a: 1}\n", "list"},
      {"tools:\n  - [unclosed\n", "not valid YAML"}};
  for (const auto& [text, expected] : bad) {
    const auto path = (dir / "bad.yaml").string();
    std::ofstream(path) << text;
    try {
      load_tools_file(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(load_tools_file((dir / "missing.yaml").string()), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

TEST(LlmTools, TransfersGoOnlyToAllowedTargets) {
  const std::vector<std::string> allow = {"+15550003333", "sip:desk@example.com", "+4420*"};
  EXPECT_TRUE(transfer_allowed(allow, "+15550003333"));
  EXPECT_TRUE(transfer_allowed(allow, "sip:desk@example.com"));
  EXPECT_TRUE(transfer_allowed(allow, "+442071234567"));
  EXPECT_FALSE(transfer_allowed(allow, "+15550003334"));
  EXPECT_FALSE(transfer_allowed(allow, "+1555000333"));
  EXPECT_FALSE(transfer_allowed(allow, ""));
  EXPECT_FALSE(transfer_allowed({}, "+15550003333"));
}

TEST(LlmAgents, PromptsAreFilledPerCall) {
  call::CallContext c;
  c.call_sid = "CA1";
  c.from = "+1555";
  c.to = "+1666";
  c.parameters["customer"] = "Ada";
  EXPECT_EQ(LlmAgents::render_prompt("Call {{call_sid}} from {{from}} to {{ to }} for {{customer}}{{missing}}.", c),
            "Call CA1 from +1555 to +1666 for Ada.");
  EXPECT_EQ(LlmAgents::render_prompt("unclosed {{from", c), "unclosed {{from");
}

}  // namespace
}  // namespace vox::agent
