// The webhook agent (agent/webhook_agent.hpp): take_sentences() on its own, then the
// agent made by AgentFactory against a real HTTP endpoint on 127.0.0.1 (a net::Server
// with its io_context on a background thread; the agent's net::HttpClient on another).
// Answers as one JSON object, NDJSON lines and plain text streamed in chunks; a 500, a
// stall past the timeout and a malformed body speak the fallback phrase; requests carry
// the call and the turn, signed with HMAC-SHA256 when a secret is set. Replies are
// awaited on a condition variable with a deadline.
#include "agent/webhook_agent.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "agent/agent.hpp"
#include "core/hash.hpp"
#include "net/client.hpp"
#include "net/router.hpp"
#include "net/server.hpp"

namespace vox::agent {
namespace {
using call::Agent;
using call::CallContext;
using call::Turn;
using Reply = call::AgentReply;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// (GCC 12: no braced aggregate prvalues as coroutine arguments and no literals inside
// co_await expressions; the coroutines below use named locals.)

const std::string kFallback = "Sorry, the webhook did not answer.";

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

using Sentences = std::vector<std::string>;

// ---------------------------------------------------------------------------------------
// take_sentences

TEST(WebhookAgent, TakeSentencesCutsCompleteSentencesAndKeepsTheRest) {
  std::string buf = "Hello there. How are";
  EXPECT_EQ(take_sentences(buf), (Sentences{"Hello there."}));
  EXPECT_EQ(trim(buf), "How are");
  buf += " you? Fine! Thanks";
  EXPECT_EQ(take_sentences(buf), (Sentences{"How are you?", "Fine!"}));
  EXPECT_EQ(trim(buf), "Thanks");
  // A stop at the very end is not known to end a sentence yet ("3." may become "3.5").
  buf += ".";
  EXPECT_EQ(take_sentences(buf), Sentences{});
  EXPECT_EQ(trim(buf), "Thanks.");
  buf += " ";
  EXPECT_EQ(take_sentences(buf), (Sentences{"Thanks."}));
  EXPECT_EQ(trim(buf), "");
}

TEST(WebhookAgent, TakeSentencesSplitsAtNewlinesButNotInsideNumbers) {
  std::string buf = "The total is 3.5 dollars. Pay by card";
  EXPECT_EQ(take_sentences(buf), (Sentences{"The total is 3.5 dollars."}));
  EXPECT_EQ(trim(buf), "Pay by card");

  buf = "Version 3.5";
  EXPECT_EQ(take_sentences(buf), Sentences{});
  EXPECT_EQ(buf, "Version 3.5");

  buf = "first line\nsecond line\nthird";
  EXPECT_EQ(take_sentences(buf), (Sentences{"first line", "second line"}));
  EXPECT_EQ(trim(buf), "third");

  buf = "Windows line\r\nNext";
  EXPECT_EQ(take_sentences(buf), (Sentences{"Windows line"}));
  EXPECT_EQ(trim(buf), "Next");

  // Runs of marks end a sentence once whitespace follows the last one.
  buf = "Really?! Yes. Wait...\tok";
  EXPECT_EQ(take_sentences(buf), (Sentences{"Really?!", "Yes.", "Wait..."}));
  EXPECT_EQ(trim(buf), "ok");
}

TEST(WebhookAgent, TakeSentencesTrimsAndDropsEmptyPieces) {
  std::string buf = "  \n\n   Hello.   \n  World!  \n";
  EXPECT_EQ(take_sentences(buf), (Sentences{"Hello.", "World!"}));
  EXPECT_EQ(trim(buf), "");

  buf = "";
  EXPECT_EQ(take_sentences(buf), Sentences{});
  EXPECT_EQ(buf, "");

  buf = "   ";
  EXPECT_EQ(take_sentences(buf), Sentences{});
  EXPECT_EQ(trim(buf), "");
}

// ---------------------------------------------------------------------------------------
// The agent against an HTTP endpoint

asio::awaitable<void> delay(std::chrono::milliseconds d) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  timer.expires_after(d);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// A net::Server on 127.0.0.1 (port 0) with its io_context on its own thread.
class HookServer {
 public:
  explicit HookServer(net::Router router) : guard_(asio::make_work_guard(ioc_)) {
    server_ = std::make_unique<net::Server>(ioc_, std::move(router), net::ServerLimits{});
    port_ = server_->listen("127.0.0.1", 0);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~HookServer() {
    server_->shutdown();
    guard_.reset();
    ioc_.stop();
    thread_.join();
    server_.reset();
  }
  HookServer(const HookServer&) = delete;
  HookServer& operator=(const HookServer&) = delete;

  std::string url(const std::string& path = "/agent") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// What the endpoint received.
struct Received {
  std::string body;
  std::string content_type;
  std::string signature;  // X-Voxbridge-Signature
  bool has_signature = false;
};

class Inbox {
 public:
  void add(const net::HttpRequest& req) {
    Received r;
    r.body = req.body;
    r.content_type = std::string(req.header("Content-Type"));
    r.has_signature = req.headers.find("X-Voxbridge-Signature") != req.headers.end();
    r.signature = std::string(req.header("X-Voxbridge-Signature"));
    std::lock_guard lock(mu_);
    got_.push_back(std::move(r));
  }
  std::vector<Received> all() const {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Received> got_;
};

// The replies of one turn, as the agent hands them over (from its client thread).
// Copies share the same state.
class Replies {
 public:
  std::function<void(Reply)> sink() const {
    auto st = st_;
    return [st](Reply r) {
      {
        std::lock_guard lock(st->mu);
        st->got.push_back(std::move(r));
      }
      st->cv.notify_all();
    };
  }
  // Waits until the final reply (more == false) is in, or `timeout`; returns all so far.
  std::vector<Reply> wait_final(std::chrono::milliseconds timeout = 10s) const {
    std::unique_lock lock(st_->mu);
    st_->cv.wait_for(lock, timeout, [this] {
      return std::any_of(st_->got.begin(), st_->got.end(), [](const Reply& r) { return !r.more; });
    });
    return st_->got;
  }
  std::size_t count() const {
    std::lock_guard lock(st_->mu);
    return st_->got.size();
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Reply> got;
  };
  std::shared_ptr<State> st_ = std::make_shared<State>();
};

CallContext call_context() {
  CallContext c;
  c.call_sid = "CA0123456789abcdef0123456789abcdef";
  c.stream_sid = "MZ0123456789abcdef0123456789abcdef";
  c.from = "+15550001111";
  c.to = "+15550002222";
  c.agent_id = "support-bot";
  c.parameters = {{"lang", "en"}, {"campaign", "spring"}};
  return c;
}

WebhookSettings hook(const HookServer& server, int timeout_ms = 5000, std::string secret = {}) {
  WebhookSettings s;
  s.url = server.url();
  s.timeout_ms = timeout_ms;
  s.fallback_text = kFallback;
  s.secret = std::move(secret);
  return s;
}

// The agent as the gateway makes it: AgentFactory("webhook") with a pooled HttpClient
// (no retries) whose io_context runs on a thread of its own. The destructor stops that
// thread before the agent and the client go.
class AgentRig {
 public:
  explicit AgentRig(WebhookSettings webhook) : guard_(asio::make_work_guard(ioc_)) {
    net::HttpClientOptions o;
    o.retry.max_attempts = 1;
    o.read_timeout = std::chrono::milliseconds(webhook.timeout_ms);
    http_ = std::make_unique<net::HttpClient>(ioc_.get_executor(), o);
    AgentSettings s;
    s.default_agent = "webhook";
    s.greeting = "Welcome to the test line.";
    s.webhook = std::move(webhook);
    factory_ = std::make_unique<AgentFactory>(s, http_.get());
    agent_ = factory_->create(call_context());
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~AgentRig() {
    guard_.reset();
    ioc_.stop();
    thread_.join();
    agent_.reset();
    factory_.reset();
    http_.reset();
  }
  AgentRig(const AgentRig&) = delete;
  AgentRig& operator=(const AgentRig&) = delete;

  Agent& agent() { return *agent_; }

  // Starts turn `index`; its replies arrive in the returned collector.
  Replies turn(int index, std::string transcript, bool barged_in = false, std::string heard = {}) {
    Turn t;
    t.index = index;
    t.transcript = std::move(transcript);
    t.barged_in = barged_in;
    t.interrupted_reply_heard = std::move(heard);
    Replies replies;
    agent_->on_turn(t, replies.sink());
    return replies;
  }

 private:
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<AgentFactory> factory_;
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
};

std::vector<std::string> texts(const std::vector<Reply>& replies) {
  std::vector<std::string> out;
  for (const auto& r : replies) out.push_back(r.text);
  return out;
}

// 1 for a part (more follow), 0 for the final reply.
std::vector<int> mores(const std::vector<Reply>& replies) {
  std::vector<int> out;
  for (const auto& r : replies) out.push_back(r.more ? 1 : 0);
  return out;
}

std::string joined(const std::vector<Reply>& replies) {
  std::string out;
  for (const auto& r : replies) out += "[" + r.text + (r.more ? " (more)" : "") + "]";
  return out;
}

TEST(WebhookAgent, FactoryNeedsAUrlAndAClient) {
  AgentSettings no_url;
  no_url.default_agent = "webhook";
  AgentFactory factory(no_url);
  EXPECT_THROW(factory.create(call_context()), std::invalid_argument);

  AgentSettings no_client;
  no_client.webhook.url = "http://127.0.0.1:9/agent";
  EXPECT_THROW(
      {
        AgentFactory f(no_client);
        (void)f;
      },
      std::invalid_argument);

  const auto names = AgentFactory::names();
  EXPECT_TRUE(std::find(names.begin(), names.end(), "webhook") != names.end());
  EXPECT_TRUE(AgentFactory::built_in("webhook"));
}

TEST(WebhookAgent, AJsonAnswerIsOneReply) {
  auto inbox = std::make_shared<Inbox>();
  net::Router router;
  router.add("POST", "/agent", [inbox](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    inbox->add(req);
    const auto turn = json::parse(req.body).as_object().at("turn").as_int64();
    json::object o;
    if (turn == 1) {
      o["text"] = "Hello from the webhook.";
      o["hangup"] = false;
    } else if (turn == 2) {
      o["response"] = "Goodbye.";  // the /generate-style field name
      o["hangup"] = true;
    } else {
      o["text"] = "One moment.";
      o["transfer_to"] = "+15550009999";
      o["digits"] = "1w2";
    }
    co_return net::HttpResponse::json(200, json::serialize(o));
  });
  HookServer server(std::move(router));
  AgentRig rig(hook(server));
  EXPECT_EQ(rig.agent().greeting(), "Welcome to the test line.");

  const auto first = rig.turn(1, "good morning").wait_final();
  ASSERT_EQ(first.size(), 1u) << joined(first);
  EXPECT_EQ(first[0].text, "Hello from the webhook.");
  EXPECT_FALSE(first[0].more);
  EXPECT_FALSE(first[0].hangup);
  EXPECT_EQ(first[0].transfer_to, "");
  EXPECT_EQ(first[0].digits, "");

  const auto second = rig.turn(2, "bye").wait_final();
  ASSERT_EQ(second.size(), 1u) << joined(second);
  EXPECT_EQ(second[0].text, "Goodbye.");
  EXPECT_FALSE(second[0].more);
  EXPECT_TRUE(second[0].hangup);

  const auto third = rig.turn(3, "transfer me").wait_final();
  ASSERT_EQ(third.size(), 1u) << joined(third);
  EXPECT_EQ(third[0].text, "One moment.");
  EXPECT_EQ(third[0].transfer_to, "+15550009999");
  EXPECT_EQ(third[0].digits, "1w2");
  EXPECT_FALSE(third[0].hangup);

  // Without a secret the requests are not signed.
  const auto got = inbox->all();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) {
    EXPECT_FALSE(r.has_signature) << r.body;
    EXPECT_NE(r.content_type.find("application/json"), std::string::npos) << r.content_type;
  }
}

TEST(WebhookAgent, APrettyPrintedJsonAnswerIsReadWhole) {
  net::Router router;
  router.add("POST", "/agent", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::json(200, "{\n  \"text\": \"Pretty. Printed.\",\n  \"hangup\": false\n}\n");
  });
  HookServer server(std::move(router));
  AgentRig rig(hook(server));
  const auto replies = rig.turn(1, "hello there").wait_final();
  ASSERT_EQ(replies.size(), 1u) << joined(replies);
  EXPECT_EQ(replies[0].text, "Pretty. Printed.");
  EXPECT_FALSE(replies[0].more);
}

// NDJSON: each line is spoken as it arrives; the server sends the rest only once the
// first part has reached the agent's caller (or after 5 s, which the test notices).
TEST(WebhookAgent, NdjsonLinesArePartsThenAFinalReply) {
  Replies replies;
  auto streamed_early = std::make_shared<std::atomic<bool>>(false);
  net::Router router;
  router.add("POST", "/agent", [replies, streamed_early](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    net::HttpResponse res;
    res.status = 200;
    res.content_type = "application/x-ndjson";
    res.stream = [replies, streamed_early](net::BodyWriter& w) -> asio::awaitable<void> {
      const std::string first = "{\"text\":\"First part.\"}\n";
      const bool ok = co_await w.write(first);
      if (!ok) co_return;
      const auto step = std::chrono::milliseconds(10);
      for (int i = 0; i < 500 && replies.count() == 0; ++i) co_await delay(step);
      streamed_early->store(replies.count() > 0);
      const std::string rest = "{\"text\":\"Second part.\"}\n{\"text\":\"Last part.\",\"hangup\":true}\n";
      const bool ok2 = co_await w.write(rest);
      if (!ok2) co_return;
    };
    co_return res;
  });
  HookServer server(std::move(router));
  AgentRig rig(hook(server));
  Turn t;
  t.index = 1;
  t.transcript = "good morning";
  rig.agent().on_turn(t, replies.sink());
  const auto got = replies.wait_final();
  EXPECT_EQ(texts(got), (std::vector<std::string>{"First part.", "Second part.", "Last part."})) << joined(got);
  EXPECT_EQ(mores(got), (std::vector<int>{1, 1, 0}));
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got.back().hangup);
  EXPECT_TRUE(streamed_early->load()) << "the first line was not handed on before the rest of the body came";
}

// Plain text: sentences are spoken as they complete; the unfinished rest is the final
// reply. The server holds the rest back until the first sentence has been handed on.
TEST(WebhookAgent, StreamedPlainTextIsSpokenSentenceBySentence) {
  Replies replies;
  auto streamed_early = std::make_shared<std::atomic<bool>>(false);
  net::Router router;
  router.add("POST", "/agent", [replies, streamed_early](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    net::HttpResponse res;
    res.status = 200;
    res.content_type = "text/plain; charset=utf-8";
    res.stream = [replies, streamed_early](net::BodyWriter& w) -> asio::awaitable<void> {
      const std::string first = "Hello there. How are";
      const bool ok = co_await w.write(first);
      if (!ok) co_return;
      const auto step = std::chrono::milliseconds(10);
      for (int i = 0; i < 500 && replies.count() == 0; ++i) co_await delay(step);
      streamed_early->store(replies.count() > 0);
      const std::string second = " you? The price is 3.5 dollars";
      const bool ok2 = co_await w.write(second);
      if (!ok2) co_return;
      co_await delay(step);
      const std::string third = ".\nBye";
      const bool ok3 = co_await w.write(third);
      if (!ok3) co_return;
    };
    co_return res;
  });
  HookServer server(std::move(router));
  AgentRig rig(hook(server));
  Turn t;
  t.index = 1;
  t.transcript = "what time is it";
  rig.agent().on_turn(t, replies.sink());
  const auto got = replies.wait_final();
  EXPECT_EQ(texts(got), (std::vector<std::string>{"Hello there.", "How are you?", "The price is 3.5 dollars.", "Bye"}))
      << joined(got);
  EXPECT_EQ(mores(got), (std::vector<int>{1, 1, 1, 0}));
  for (const auto& r : got) EXPECT_FALSE(r.hangup);
  EXPECT_TRUE(streamed_early->load()) << "the first sentence was not handed on before the rest of the body came";
}

TEST(WebhookAgent, AServerErrorSpeaksTheFallback) {
  net::Router router;
  router.add("POST", "/agent", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    // Sentences in the error body must not be spoken.
    co_return net::HttpResponse::text(500, "Oops. Something broke. Sorry.\n");
  });
  HookServer server(std::move(router));
  AgentRig rig(hook(server));
  const auto got = rig.turn(1, "good morning").wait_final();
  ASSERT_EQ(got.size(), 1u) << joined(got);
  EXPECT_EQ(got[0].text, kFallback);
  EXPECT_FALSE(got[0].more);
  EXPECT_FALSE(got[0].hangup);
}

TEST(WebhookAgent, AMalformedJsonAnswerSpeaksTheFallback) {
  net::Router router;
  router.add("POST", "/agent", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::json(200, "{\"text\": \"never closed");
  });
  HookServer server(std::move(router));
  AgentRig rig(hook(server));
  const auto got = rig.turn(1, "good morning").wait_final();
  ASSERT_EQ(got.size(), 1u) << joined(got);
  EXPECT_EQ(got[0].text, kFallback);
  EXPECT_FALSE(got[0].more);
}

TEST(WebhookAgent, AnAnswerSlowerThanTheTimeoutSpeaksTheFallback) {
  auto answered = std::make_shared<std::atomic<bool>>(false);
  net::Router router;
  router.add("POST", "/agent", [answered](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    const auto slow = std::chrono::milliseconds(1500);
    co_await delay(slow);
    answered->store(true);
    co_return net::HttpResponse::json(200, "{\"text\":\"Too late.\"}");
  });
  HookServer server(std::move(router));
  AgentRig rig(hook(server, 300));
  const auto started = Clock::now();
  const auto replies = rig.turn(1, "good morning");
  const auto got = replies.wait_final();
  const auto took = Clock::now() - started;
  const bool answered_by_then = answered->load();
  ASSERT_EQ(got.size(), 1u) << joined(got);
  EXPECT_EQ(got[0].text, kFallback);
  EXPECT_FALSE(got[0].more);
  // The fallback came at the timeout, not after the slow answer.
  EXPECT_FALSE(answered_by_then);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1400ms);
  // The late answer is never spoken: once the endpoint has answered, still one reply.
  const auto deadline = Clock::now() + 10s;
  while (!answered->load() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(answered->load());
  EXPECT_EQ(replies.count(), 1u);
}

TEST(WebhookAgent, RequestsCarryTheTurnAndAreSignedWithTheSecret) {
  const std::string secret = "webhook-secret-1";
  auto inbox = std::make_shared<Inbox>();
  net::Router router;
  router.add("POST", "/agent", [inbox](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    inbox->add(req);
    co_return net::HttpResponse::json(200, "{\"text\":\"Noted.\"}");
  });
  HookServer server(std::move(router));
  AgentRig rig(hook(server, 5000, secret));
  const auto got = rig.turn(3, "i forgot my password", true, "You said").wait_final();
  ASSERT_EQ(got.size(), 1u) << joined(got);
  EXPECT_EQ(got[0].text, "Noted.");

  const auto received = inbox->all();
  ASSERT_EQ(received.size(), 1u);
  const auto& r = received[0];
  ASSERT_TRUE(r.has_signature);
  EXPECT_EQ(r.signature, hmac_sha256_hex(secret, r.body));
  EXPECT_EQ(r.signature.size(), 64u);
  EXPECT_EQ(r.signature.find_first_not_of("0123456789abcdef"), std::string::npos) << r.signature;
  EXPECT_NE(r.signature, hmac_sha256_hex("another-secret", r.body));

  const auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("call_sid").as_string(), "CA0123456789abcdef0123456789abcdef");
  EXPECT_EQ(body.at("text").as_string(), "i forgot my password");
  EXPECT_EQ(body.at("turn").as_int64(), 3);
  EXPECT_EQ(body.at("from").as_string(), "+15550001111");
  EXPECT_EQ(body.at("to").as_string(), "+15550002222");
  EXPECT_EQ(body.at("agent_id").as_string(), "support-bot");
  EXPECT_TRUE(body.at("barged_in").as_bool());
  EXPECT_EQ(body.at("interrupted_reply_heard").as_string(), "You said");
  const auto& params = body.at("parameters").as_object();
  EXPECT_EQ(params.at("lang").as_string(), "en");
  EXPECT_EQ(params.at("campaign").as_string(), "spring");
}

}  // namespace
}  // namespace vox::agent
