// The llm agent (agent/llm_agent.hpp) against the OpenAI-compatible emulator
// (sim/openai_emulator.hpp), both real, over loopback: streamed answers spoken in pieces,
// the history each request carries (read back from the emulator's request log), a
// barge-in cutting the history to the heard words, the built-in and HTTP tools, faults,
// the history cap and 50 calls at once. Replies are awaited with a deadline.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.hpp"
#include "agent/llm_agent.hpp"
#include "net/client.hpp"
#include "net/router.hpp"
#include "net/server.hpp"
#include "sim/openai_emulator.hpp"

namespace vox::agent {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Reply = call::AgentReply;

class Loop {
 public:
  Loop() : guard_(asio::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
  ~Loop() {
    guard_.reset();
    ioc_.stop();
    thread_.join();
  }
  asio::io_context& io() { return ioc_; }

 private:
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// Closes a server's connections and waits until their coroutines have finished.
void stop(net::Server& server) {
  server.shutdown();
  server.abort_all();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (server.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
}

net::HttpResponse request(const std::string& method, const std::string& url, const std::string& body = {}) {
  asio::io_context ioc;
  auto fut = asio::co_spawn(ioc, net::http_request(method, url, {}, body), asio::use_future);
  ioc.run();
  return fut.get();
}

// The emulator on its own loop, and a tool endpoint the tests may use.
class ModelServer {
 public:
  explicit ModelServer(const std::string& rules) {
    sim::OpenAiEmulatorOptions o;
    o.rules_json = rules;
    emulator_ = std::make_unique<sim::OpenAiEmulator>(loop_.io(), o);
    net::Router router;
    emulator_->add_routes(router);
    server_ = std::make_unique<net::Server>(loop_.io(), std::move(router), net::ServerLimits{});
    port_ = server_->listen("127.0.0.1", 0);
  }
  ~ModelServer() { stop(*server_); }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  json::array requests() const { return json::parse(request("GET", root() + "/emulator/requests").body).as_array(); }
  void fault(const std::string& body) { ASSERT_EQ(request("POST", root() + "/emulator/faults", body).status, 200); }
  std::string root() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  Loop loop_;
  std::unique_ptr<sim::OpenAiEmulator> emulator_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
};

// Collects one agent's replies.
class Replies {
 public:
  std::function<void(Reply)> sink() {
    return [this](Reply r) {
      std::lock_guard lock(mu_);
      replies_.push_back(std::move(r));
      cv_.notify_all();
    };
  }
  // Waits for the turn's last part (more == false, no digits alone); returns every part.
  std::vector<Reply> until_last(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [this] {
      for (const auto& r : replies_)
        if (!r.more && r.digits.empty()) return true;
      return false;
    });
    auto out = std::move(replies_);
    replies_.clear();
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Reply> replies_;
};

std::string text_of(const std::vector<Reply>& parts) {
  std::string s;
  for (const auto& r : parts)
    if (!r.text.empty()) s += (s.empty() ? "" : " ") + r.text;
  return s;
}

// The messages of the emulator's request `i` as (role, content) pairs.
std::vector<std::pair<std::string, std::string>> messages_of(const json::array& requests, std::size_t i) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& m : requests.at(i).as_object().at("messages").as_array()) {
    const auto& o = m.as_object();
    const auto& c = o.at("content");
    out.emplace_back(std::string(o.at("role").as_string()), c.is_string() ? std::string(c.as_string()) : "<null>");
  }
  return out;
}

using Msgs = std::vector<std::pair<std::string, std::string>>;

struct Harness {
  explicit Harness(const std::string& rules, LlmSettings s = {}) : model(rules) {
    s.base_url = model.base();
    s.model = "test-model";
    s.system_prompt = "You talk to {{from}}.";
    settings = s;
    net::HttpClientOptions o;
    o.retry.max_attempts = 1;
    http = std::make_unique<net::HttpClient>(client.io().get_executor(), o);
    agents = std::make_unique<LlmAgents>(*http, settings);
  }
  std::unique_ptr<call::Agent> agent(const std::string& greeting = "Hello there.") {
    call::CallContext c;
    c.call_sid = "CA00000000000000000000000000000001";
    c.from = "+15550001111";
    return agents->create(c, greeting);
  }
  ModelServer model;
  Loop client;
  LlmSettings settings;
  std::unique_ptr<net::HttpClient> http;
  std::unique_ptr<LlmAgents> agents;
};

call::Turn turn(int index, const std::string& text) {
  call::Turn t;
  t.index = index;
  t.transcript = text;
  return t;
}

TEST(LlmAgent, AnswersArriveInPiecesAndEachRequestCarriesTheConversation) {
  Harness h(R"([{"match": "morning", "text": "Good morning to you, my friend. How can I help you today?"},
                {"match": "time", "text": "It is noon."}])");
  auto a = h.agent();
  EXPECT_EQ(a->greeting(), "Hello there.");
  Replies r;
  a->on_turn(turn(1, "good morning"), r.sink());
  auto parts = r.until_last();
  ASSERT_GE(parts.size(), 2u);
  EXPECT_EQ(parts[0].text, "Good morning to you,");  // the first clause, while the model writes on
  EXPECT_TRUE(parts[0].more);
  EXPECT_GE(parts[0].llm_first_token_ms, 0);
  EXPECT_GE(parts[0].llm_first_piece_ms, 0);
  EXPECT_EQ(text_of(parts), "Good morning to you, my friend. How can I help you today?");

  a->on_turn(turn(2, "what time is it"), r.sink());
  EXPECT_EQ(text_of(r.until_last()), "It is noon.");
  const auto reqs = h.model.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].as_object().at("model").as_string(), "test-model");
  EXPECT_TRUE(reqs[1].as_object().at("stream").as_bool());
  EXPECT_EQ(messages_of(reqs, 1), (Msgs{{"system", "You talk to +15550001111."},
                                        {"assistant", "Hello there."},
                                        {"user", "good morning"},
                                        {"assistant", "Good morning to you, my friend. How can I help you today?"},
                                        {"user", "what time is it"}}));
}

TEST(LlmAgent, ABargeInLeavesOnlyTheHeardWordsInTheHistory) {
  Harness h(R"([{"match": "story", "text": "One two three. Four five six. Seven eight nine."},
                {"match": "stop", "text": "Sure."}])");
  auto a = h.agent("");
  Replies r;
  a->on_turn(turn(1, "tell me a story"), r.sink());
  auto parts = r.until_last();
  ASSERT_EQ(text_of(parts), "One two three. Four five six. Seven eight nine.");
  // The caller heard "One two three." whole and "Four five" of the next piece.
  call::Turn t = turn(2, "stop please");
  t.barged_in = true;
  t.interrupted_reply = "Four five six.";
  t.interrupted_reply_heard = "Four five";
  a->on_turn(t, r.sink());
  EXPECT_EQ(text_of(r.until_last()), "Sure.");
  const auto reqs = h.model.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(messages_of(reqs, 1), (Msgs{{"system", "You talk to +15550001111."},
                                        {"user", "tell me a story"},
                                        {"assistant", "One two three. Four five"},
                                        {"user", "stop please"}}));
  // Cut before anything of the answer was heard: the answer leaves the history.
  a->on_turn(turn(3, "tell me a story"), r.sink());
  r.until_last();
  t = turn(4, "stop please");
  t.barged_in = true;
  t.interrupted_reply = "One two three.";
  t.interrupted_reply_heard = "";
  a->on_turn(t, r.sink());
  r.until_last();
  const auto after = messages_of(h.model.requests(), 3);
  ASSERT_GE(after.size(), 2u);
  EXPECT_EQ(after[after.size() - 2], (std::pair<std::string, std::string>{"user", "tell me a story"}));
}

TEST(LlmAgent, EndCallSaysGoodbyeThenHangsUpAndDtmfPressesKeys) {
  Harness h(R"([{"match": "bye", "tool_calls": [{"name": "end_call", "arguments": {"goodbye": "Goodbye, take care."}}]},
                {"match": "menu", "text": "Pressing one.", "tool_calls": [{"name": "send_dtmf", "arguments": {"digits": "1w#"}}]},
                {"match": "pressed", "role": "tool", "text": "Done, you are through."}])");
  auto a = h.agent();
  Replies r;
  a->on_turn(turn(1, "press the menu key"), r.sink());
  auto parts = r.until_last();
  bool pressed = false;
  for (const auto& p : parts) pressed = pressed || p.digits == "1w#";
  EXPECT_TRUE(pressed);
  EXPECT_EQ(text_of(parts), "Pressing one. Done, you are through.");

  a->on_turn(turn(2, "ok bye"), r.sink());
  parts = r.until_last();
  ASSERT_FALSE(parts.empty());
  EXPECT_TRUE(parts.back().hangup);
  EXPECT_EQ(parts.back().text, "Goodbye, take care.");
  // The tool use goes to the call's events with the reply.
  ASSERT_EQ(parts.back().tools.size(), 1u);
  EXPECT_EQ(parts.back().tools[0].name, "end_call");
  EXPECT_EQ(parts.back().tools[0].arguments, R"({"goodbye":"Goodbye, take care."})");
  EXPECT_TRUE(parts.back().tools[0].ok);
  // The tool round is in the history: the call, then its result.
  const auto reqs = h.model.requests();
  const auto& msgs = reqs.at(1).as_object().at("messages").as_array();
  bool call_seen = false, result_seen = false;
  for (const auto& m : msgs) {
    const auto& o = m.as_object();
    if (o.contains("tool_calls"))
      call_seen = o.at("tool_calls").as_array()[0].as_object().at("function").as_object().at("name").as_string() == "send_dtmf";
    if (o.at("role").as_string() == "tool") result_seen = o.at("content").as_string() == "pressed 1w#";
  }
  EXPECT_TRUE(call_seen && result_seen) << json::serialize(msgs);
}

TEST(LlmAgent, TransfersOnlyToTheAllowList) {
  LlmSettings s;
  s.transfer_allow = {"+15550003333"};
  Harness h(R"([{"match": "sales", "tool_calls": [{"name": "transfer_call", "arguments": {"to": "+15550003333", "announcement": "Transferring you now."}}]},
                {"match": "boss", "tool_calls": [{"name": "transfer_call", "arguments": {"to": "+19999999999"}}]},
                {"match": "not a target", "role": "tool", "text": "I cannot transfer you there."}])",
            s);
  auto a = h.agent();
  Replies r;
  a->on_turn(turn(1, "get me sales"), r.sink());
  auto parts = r.until_last();
  ASSERT_FALSE(parts.empty());
  EXPECT_EQ(parts.back().transfer_to, "+15550003333");
  EXPECT_EQ(parts.back().text, "Transferring you now.");
  a->on_turn(turn(2, "get me the boss"), r.sink());
  parts = r.until_last();
  EXPECT_EQ(text_of(parts), "I cannot transfer you there.");
  for (const auto& p : parts) EXPECT_EQ(p.transfer_to, "");
}

// An HTTP tool endpoint: records bodies and how many requests were in flight at once.
class ToolEndpoint {
 public:
  explicit ToolEndpoint(std::chrono::milliseconds delay) {
    net::Router router;
    router.add("POST", "/tool", [this, delay](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
      const int now = ++in_flight_;
      int seen = max_in_flight_.load();
      while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
      }
      {
        std::lock_guard lock(mu_);
        bodies_.push_back(req.body);
      }
      asio::steady_timer t(co_await asio::this_coro::executor, delay);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      --in_flight_;
      co_return net::HttpResponse::json(200, R"({"status":"shipped"})");
    });
    server_ = std::make_unique<net::Server>(loop_.io(), std::move(router), net::ServerLimits{});
    port_ = server_->listen("127.0.0.1", 0);
  }
  ~ToolEndpoint() { stop(*server_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/tool"; }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  int max_in_flight() const { return max_in_flight_.load(); }

 private:
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::atomic<int> in_flight_{0}, max_in_flight_{0};
  Loop loop_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
};

TEST(LlmAgent, HttpToolsGetValidatedArgumentsRunTogetherAndAFillerCoversThem) {
  ToolEndpoint tool(700ms);
  const auto path = (std::filesystem::temp_directory_path() / ("vox-llm-tools-" + std::to_string(::getpid()) + ".yaml")).string();
  std::ofstream(path) << "tools:\n"
                         "  - name: order_status\n"
                         "    description: Status of an order\n"
                         "    parameters: {type: object, properties: {order: {type: string}}, required: [order]}\n"
                         "    url: " << tool.url() << "\n";
  LlmSettings s;
  s.tools_file = path;
  s.filler_after_ms = 200;
  s.filler_text = "One moment.";
  Harness h(R"([{"match": "orders", "tool_calls": [{"name": "order_status", "arguments": {"order": "42"}},
                                                  {"name": "order_status", "arguments": {"order": "43"}},
                                                  {"name": "order_status", "arguments": {"order": 44}}]},
                {"match": ".*", "role": "tool", "text": "Both orders have shipped."}])",
            s);
  auto a = h.agent();
  Replies r;
  a->on_turn(turn(1, "where are my orders"), r.sink());
  auto parts = r.until_last();
  EXPECT_EQ(text_of(parts), "One moment. Both orders have shipped.");
  std::vector<std::string> notes;
  for (const auto& p : parts)
    for (const auto& n : p.tools) notes.push_back(n.name + (n.ok ? " ok " : " failed ") + n.result);
  EXPECT_EQ(notes, (std::vector<std::string>{R"(order_status ok {"status":"shipped"})", R"(order_status ok {"status":"shipped"})",
                                             "order_status failed error: invalid arguments: order: must be string, got integer"}));
  auto bodies = tool.bodies();
  std::sort(bodies.begin(), bodies.end());
  // The third call's arguments broke the schema: never sent, answered with the reason.
  EXPECT_EQ(bodies, (std::vector<std::string>{R"({"order":"42"})", R"({"order":"43"})"}));
  EXPECT_EQ(tool.max_in_flight(), 2);
  const auto msgs = messages_of(h.model.requests(), 1);
  ASSERT_GE(msgs.size(), 3u);
  EXPECT_EQ(msgs[msgs.size() - 3], (std::pair<std::string, std::string>{"tool", R"({"status":"shipped"})"}));
  EXPECT_EQ(msgs[msgs.size() - 2], (std::pair<std::string, std::string>{"tool", R"({"status":"shipped"})"}));
  EXPECT_EQ(msgs.back(), (std::pair<std::string, std::string>{"tool", "error: invalid arguments: order: must be string, got integer"}));
  std::filesystem::remove(path);
}

TEST(LlmAgent, AnUnreachableToolIsAnsweredWithoutItsUrl) {
  // Port 9 (discard) on loopback: nothing listens there.
  const auto path = (std::filesystem::temp_directory_path() / ("vox-llm-tools-dead-" + std::to_string(::getpid()) + ".yaml")).string();
  std::ofstream(path) << "tools:\n"
                         "  - name: order_status\n"
                         "    url: http://127.0.0.1:9/orders?key=abcdef123456\n"
                         "    timeout_ms: 500\n";
  LlmSettings s;
  s.tools_file = path;
  Harness h(R"([{"match": "order", "tool_calls": [{"name": "order_status", "arguments": {}}]},
                {"match": ".*", "role": "tool", "text": "The order system is down."}])",
            s);
  auto a = h.agent();
  Replies r;
  a->on_turn(turn(1, "where is my order"), r.sink());
  EXPECT_EQ(text_of(r.until_last()), "The order system is down.");
  const auto msgs = messages_of(h.model.requests(), 1);
  EXPECT_EQ(msgs.back(), (std::pair<std::string, std::string>{
                             "tool", "error: the tool could not be reached (connection failed, timed out or was reset)"}));
  std::filesystem::remove(path);
}

TEST(LlmAgent, FaultsNeverLeaveTheCallerWithoutAnAnswer) {
  LlmSettings s;
  s.first_token_timeout_ms = 600;
  s.fallback_text = "Sorry, say that again?";
  Harness h(R"([{"match": ".*", "text": "Alpha beta gamma. Delta epsilon."}])", s);
  auto a = h.agent();
  Replies r;
  // A 500 before the first token is retried.
  h.model.fault(R"({"kind": "status", "status": 500})");
  a->on_turn(turn(1, "one"), r.sink());
  EXPECT_EQ(text_of(r.until_last()), "Alpha beta gamma. Delta epsilon.");
  EXPECT_EQ(h.model.requests().size(), 2u);
  // A broken event is skipped; the answer goes on.
  h.model.fault(R"({"kind": "malformed", "after_tokens": 2})");
  a->on_turn(turn(2, "two"), r.sink());
  EXPECT_EQ(text_of(r.until_last()), "Alpha beta gamma. Delta epsilon.");
  // A reset mid-answer: what was said stays, then the fallback.
  h.model.fault(R"({"kind": "reset", "after_tokens": 3})");
  a->on_turn(turn(3, "three"), r.sink());
  EXPECT_EQ(text_of(r.until_last()), "Alpha beta gamma. Sorry, say that again?");
  // A stall longer than the timeout, every attempt: the fallback alone.
  h.model.fault(R"({"kind": "stall", "after_tokens": 0, "times": 5, "delay_ms": 3000})");
  // (More stalls queued than attempts: the agent gives up within its budget, not by luck.)
  a->on_turn(turn(4, "four"), r.sink());
  EXPECT_EQ(text_of(r.until_last(15s)), "Sorry, say that again?");
  // An unknown tool is answered with the reason, and the model answers in text.
  const std::string rules = R"([{"match": "five", "tool_calls": [{"name": "launch_rocket", "arguments": {}}]},
                               {"match": "no tool named", "role": "tool", "text": "I cannot do that."}])";
  ASSERT_EQ(request("DELETE", h.model.root() + "/emulator/faults").status, 200);
  ASSERT_EQ(request("POST", h.model.root() + "/emulator/rules", rules).status, 200);
  a->on_turn(turn(5, "five"), r.sink());
  EXPECT_EQ(text_of(r.until_last()), "I cannot do that.");
}

TEST(LlmAgent, TheHistoryCapDropsOldTurnsButNeverTheSystemPrompt) {
  LlmSettings s;
  s.history_max_chars = 300;
  Harness h(R"([{"match": ".*", "text": "This is a fairly long answer that takes up a good part of the history budget."}])", s);
  auto a = h.agent("");
  Replies r;
  for (int i = 1; i <= 6; ++i) {
    a->on_turn(turn(i, "question number " + std::to_string(i)), r.sink());
    r.until_last();
  }
  const auto msgs = messages_of(h.model.requests(), 5);
  EXPECT_EQ(msgs.front().first, "system");
  EXPECT_EQ(msgs.back(), (std::pair<std::string, std::string>{"user", "question number 6"}));
  EXPECT_LT(msgs.size(), 12u);
  std::size_t chars = 0;
  for (const auto& [role, content] : msgs) chars += content.size() + 16;
  EXPECT_LE(chars, 300u);
}

TEST(LlmAgent, FiftyCallsAtOnceEachKeepTheirOwnConversation) {
  Harness h(R"([{"match": ".*", "text": "You said {{last}}."}])");
  constexpr int kCalls = 50;
  std::vector<std::unique_ptr<call::Agent>> agents;
  std::vector<std::unique_ptr<Replies>> replies;
  for (int i = 0; i < kCalls; ++i) {
    agents.push_back(h.agent(""));
    replies.push_back(std::make_unique<Replies>());
  }
  for (int i = 0; i < kCalls; ++i) agents[i]->on_turn(turn(1, "caller " + std::to_string(i)), replies[i]->sink());
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(text_of(replies[i]->until_last(20s)), "You said caller " + std::to_string(i) + ".");
  EXPECT_EQ(h.model.requests().size(), static_cast<std::size_t>(kCalls));
}

}  // namespace
}  // namespace vox::agent
