#include "sim/openai_emulator.hpp"
#include "core/json_text.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>

namespace vox::sim {
namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;

namespace {

struct RuleCall {
  std::string name;
  std::string arguments;  // JSON text
};

struct Rule {
  std::string pattern;
  std::regex re;
  std::string role = "user";
  std::string text;
  std::vector<RuleCall> tool_calls;
};

struct Fault {
  std::string kind;  // status | reset | stall | malformed
  int status = 500;
  int after_tokens = 0;
  int times = 1;
  int delay_ms = 0;
};

// What one answer holds.
struct Answer {
  std::string text;
  std::vector<RuleCall> tool_calls;
};

std::string str(const json::object& o, const char* key, std::string fallback = {}) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : fallback;
}

int num(const json::object& o, const char* key, int fallback) {
  const auto* v = o.if_contains(key);
  if (v && v->is_int64()) return static_cast<int>(v->as_int64());
  if (v && v->is_double()) return static_cast<int>(v->as_double());
  return fallback;
}

std::vector<Rule> parse_rules(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) throw std::invalid_argument("rules must be a JSON array of {\"match\", \"text\", \"tool_calls\"}");
  std::vector<Rule> out;
  for (const auto& rv : v.as_array()) {
    if (!rv.is_object()) throw std::invalid_argument("a rule is not an object");
    const auto& o = rv.as_object();
    Rule r;
    r.pattern = str(o, "match", ".*");
    try {
      r.re = std::regex(r.pattern, std::regex::icase | std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      throw std::invalid_argument("a rule's \"match\" is not a valid regular expression: " + r.pattern);
    }
    r.role = str(o, "role", "user");
    r.text = str(o, "text");
    if (const auto* tc = o.if_contains("tool_calls"); tc && tc->is_array()) {
      for (const auto& cv : tc->as_array()) {
        if (!cv.is_object()) continue;
        RuleCall c;
        c.name = str(cv.as_object(), "name");
        const auto* a = cv.as_object().if_contains("arguments");
        c.arguments = !a ? "{}" : a->is_string() ? std::string(a->as_string()) : vox::json_text(*a);
        r.tool_calls.push_back(std::move(c));
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
  return s;
}

// Cuts text into tokens the way a model streams them: words with their leading space.
std::vector<std::string> tokens_of(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ' ' && !cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string error_body(std::string_view message, std::string_view type, std::string_view code) {
  return vox::json_text(json::object{
      {"error", json::object{{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}});
}

}  // namespace

struct OpenAiEmulator::Impl : std::enable_shared_from_this<OpenAiEmulator::Impl> {
  Impl(asio::io_context& io, OpenAiEmulatorOptions o) : ioc(io), opt(std::move(o)), ttft_ms(opt.ttft_ms), tps(opt.tokens_per_second) {
    if (!opt.rules_json.empty()) rules = parse_rules(opt.rules_json);
  }
  asio::io_context& ioc;
  OpenAiEmulatorOptions opt;
  std::mutex mu;
  std::vector<Rule> rules;
  std::vector<Fault> faults;
  json::array requests;
  std::atomic<int> ttft_ms;
  std::atomic<double> tps;
  std::atomic<std::uint64_t> next_id{1};

  static asio::awaitable<void> sleep_ms(int ms) {
    if (ms <= 0) co_return;
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  std::optional<Fault> take_fault() {
    std::lock_guard lock(mu);
    if (faults.empty()) return std::nullopt;
    Fault f = faults.front();
    if (--faults.front().times <= 0) faults.erase(faults.begin());
    return f;
  }

  Answer answer_for(const json::array& messages) {
    std::string role, content;
    if (!messages.empty() && messages.back().is_object()) {
      role = str(messages.back().as_object(), "role");
      content = str(messages.back().as_object(), "content");
    }
    {
      std::lock_guard lock(mu);
      for (const auto& r : rules) {
        if (r.role != role) continue;
        if (!std::regex_search(content, r.re)) continue;
        return {replace_all(r.text, "{{last}}", content), r.tool_calls};
      }
    }
    if (role == "tool") return {"Here is what I found: " + content.substr(0, 200) + ".", {}};
    if (content.empty()) return {"Hello! How can I help you today?", {}};
    return {"I heard you say " + content + ". Tell me more, I am listening.", {}};
  }

  asio::awaitable<HttpResponse> chat(const HttpRequest& req) {
    if (!opt.api_keys.empty()) {
      const std::string auth(req.header("Authorization"));
      bool ok = false;
      for (const auto& k : opt.api_keys) ok = ok || auth == "Bearer " + k;
      if (!ok) {
        co_return HttpResponse::json(401, error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"));
      }
    }
    boost::system::error_code ec;
    auto v = json::parse(req.body, ec);
    if (ec || !v.is_object()) {
      co_return HttpResponse::json(400, error_body("We could not parse the JSON body of your request.", "invalid_request_error", ""));
    }
    const auto& body = v.as_object();
    const auto* msgs = body.if_contains("messages");
    if (!msgs || !msgs->is_array() || msgs->as_array().empty()) {
      co_return HttpResponse::json(400, error_body("'messages' is a required property and must be a non-empty array.",
                                                   "invalid_request_error", ""));
    }
    const std::string model = str(body, "model");
    if (model.empty()) co_return HttpResponse::json(400, error_body("you must provide a model parameter", "invalid_request_error", ""));
    const auto* st = body.if_contains("stream");
    const bool stream = st && st->is_bool() && st->as_bool();
    json::array tool_names;
    if (const auto* ts = body.if_contains("tools"); ts && ts->is_array()) {
      for (const auto& t : ts->as_array()) {
        if (!t.is_object()) continue;
        const auto* f = t.as_object().if_contains("function");
        if (f && f->is_object()) tool_names.push_back(json::value(str(f->as_object(), "name")));
      }
    }
    {
      std::lock_guard lock(mu);
      requests.push_back(json::object{{"model", model}, {"stream", stream}, {"messages", *msgs}, {"tools", tool_names}});
    }
    Answer a = answer_for(msgs->as_array());
    auto fault = take_fault();
    if (fault && fault->kind == "status") {
      co_await sleep_ms(fault->delay_ms);
      HttpResponse r = HttpResponse::json(fault->status, error_body("The server had an error while processing your request.",
                                                                    fault->status == 429 ? "rate_limit_error" : "server_error", ""));
      if (fault->status == 429) r.headers.emplace_back("Retry-After", "0");
      co_return r;
    }
    const std::string id = "chatcmpl-emu" + std::to_string(next_id++);
    if (!stream) {
      co_await sleep_ms(ttft_ms.load());
      json::object message{{"role", "assistant"}, {"content", a.text.empty() ? json::value(nullptr) : json::value(a.text)}};
      if (!a.tool_calls.empty()) {
        json::array calls;
        int i = 0;
        for (const auto& c : a.tool_calls) {
          calls.push_back(json::object{{"id", id + "-call" + std::to_string(i++)},
                                       {"type", "function"},
                                       {"function", json::object{{"name", c.name}, {"arguments", c.arguments}}}});
        }
        message["tool_calls"] = std::move(calls);
      }
      co_return HttpResponse::json(
          200, vox::json_text(json::object{
                   {"id", id},
                   {"object", "chat.completion"},
                   {"created", 1700000000},
                   {"model", model},
                   {"choices", json::array{json::object{{"index", 0},
                                                        {"message", std::move(message)},
                                                        {"finish_reason", a.tool_calls.empty() ? "stop" : "tool_calls"}}}}}));
    }
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    auto self = shared_from_this();
    r.stream = [self, a, id, model, fault](net::BodyWriter& w) -> asio::awaitable<void> {
      co_await self->stream_answer(w, a, id, model, fault);
    };
    co_return r;
  }

  static std::string chunk(const std::string& id, const std::string& model, json::object delta, json::value finish) {
    return "data: " +
           vox::json_text(json::object{{"id", id},
                                        {"object", "chat.completion.chunk"},
                                        {"created", 1700000000},
                                        {"model", model},
                                        {"choices", json::array{json::object{
                                                        {"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish}}}}}) +
           "\n\n";
  }

  static std::string role_chunk(const std::string& id, const std::string& model) {
    return chunk(id, model, json::object{{"role", "assistant"}, {"content", ""}}, nullptr);
  }
  static std::string text_chunk(const std::string& id, const std::string& model, const std::string& text) {
    return chunk(id, model, json::object{{"content", text}}, nullptr);
  }
  static std::string finish_chunk(const std::string& id, const std::string& model, const char* reason) {
    return chunk(id, model, json::object{}, json::value(reason));
  }

  asio::awaitable<void> stream_answer(net::BodyWriter& w, Answer a, std::string id, std::string model,
                                      std::optional<Fault> fault) {
    co_await sleep_ms(ttft_ms.load());
    const double rate = tps.load();
    const int gap_ms = rate > 0 ? static_cast<int>(1000.0 / rate) : 0;
    int sent = 0;
    // Applies the fault once `sent` tokens are out; false: stop writing.
    auto faulted = [&]() -> bool { return fault && sent >= fault->after_tokens; };
    const std::string opening = role_chunk(id, model);
    if (!co_await w.write(opening)) co_return;
    std::vector<std::string> pieces = tokens_of(a.text);
    for (std::size_t i = 0; i <= pieces.size(); ++i) {
      if (faulted()) break;
      if (i == pieces.size()) break;
      if (i > 0) co_await sleep_ms(gap_ms);
      const std::string line = text_chunk(id, model, pieces[i]);
      if (!co_await w.write(line)) co_return;
      ++sent;
    }
    if (!faulted()) {
      int index = 0;
      for (const auto& c : a.tool_calls) {
        const std::string call_id = id + "-call" + std::to_string(index);
        json::object first{{"tool_calls", json::array{json::object{
                                              {"index", index},
                                              {"id", call_id},
                                              {"type", "function"},
                                              {"function", json::object{{"name", c.name}, {"arguments", ""}}}}}}};
        const std::string first_line = chunk(id, model, std::move(first), nullptr);
        if (!co_await w.write(first_line)) co_return;
        for (std::size_t at = 0; at < c.arguments.size(); at += 8) {
          json::object more{{"tool_calls", json::array{json::object{
                                               {"index", index},
                                               {"function", json::object{{"arguments", c.arguments.substr(at, 8)}}}}}}};
          const std::string more_line = chunk(id, model, std::move(more), nullptr);
          if (!co_await w.write(more_line)) co_return;
        }
        ++index;
        ++sent;
      }
    }
    if (fault && faulted()) {
      if (fault->kind == "reset") {
        w.reset();
        co_return;
      }
      if (fault->kind == "stall") {
        co_await sleep_ms(fault->delay_ms > 0 ? fault->delay_ms : 60000);
        w.reset();
        co_return;
      }
      if (fault->kind == "malformed") {
        const std::string broken = "data: {\"choices\": [ this is not json\n\n";
        if (!co_await w.write(broken)) co_return;
        // The rest of the answer follows the broken event.
        for (std::size_t i = static_cast<std::size_t>(sent); i < pieces.size(); ++i) {
          const std::string line = text_chunk(id, model, pieces[i]);
          if (!co_await w.write(line)) co_return;
        }
      }
    }
    const std::string closing = finish_chunk(id, model, a.tool_calls.empty() ? "stop" : "tool_calls");
    if (!co_await w.write(closing)) co_return;
    const std::string done = "data: [DONE]\n\n";
  co_await w.write(done);
  }

  HttpResponse admin(const HttpRequest& req) {
    boost::system::error_code ec;
    if (req.path == "/emulator/requests") {
      std::lock_guard lock(mu);
      if (req.method == "DELETE") requests.clear();
      return HttpResponse::json(200, vox::json_text(requests));
    }
    if (req.path == "/emulator/rules") {
      if (req.method == "DELETE") {
        std::lock_guard lock(mu);
        rules.clear();
        return HttpResponse::json(200, "[]");
      }
      try {
        auto parsed = parse_rules(req.body);
        std::lock_guard lock(mu);
        rules = std::move(parsed);
      } catch (const std::invalid_argument& e) {
        return HttpResponse::error(400, e.what());
      }
      return HttpResponse::json(200, R"({"ok":true})");
    }
    if (req.path == "/emulator/faults") {
      std::lock_guard lock(mu);
      if (req.method == "DELETE") {
        faults.clear();
        return HttpResponse::json(200, "[]");
      }
      auto v = json::parse(req.body, ec);
      if (ec || !v.is_object()) return HttpResponse::error(400, "body must be a JSON object");
      const auto& o = v.as_object();
      Fault f;
      f.kind = str(o, "kind");
      if (f.kind != "status" && f.kind != "reset" && f.kind != "stall" && f.kind != "malformed") {
        return HttpResponse::error(400, "kind must be status, reset, stall or malformed");
      }
      f.status = num(o, "status", 500);
      f.after_tokens = num(o, "after_tokens", 0);
      f.times = num(o, "times", 1);
      f.delay_ms = num(o, "delay_ms", 0);
      faults.push_back(f);
      return HttpResponse::json(200, R"({"ok":true})");
    }
    if (req.path == "/emulator/latency") {
      auto v = json::parse(req.body, ec);
      if (ec || !v.is_object()) return HttpResponse::error(400, "body must be a JSON object");
      const auto& o = v.as_object();
      ttft_ms = num(o, "ttft_ms", ttft_ms.load());
      if (const auto* t = o.if_contains("tokens_per_second"); t && t->is_number()) tps = t->to_number<double>();
      return HttpResponse::json(200, R"({"ok":true})");
    }
    return HttpResponse::error(404, "Not Found");
  }
};

OpenAiEmulator::OpenAiEmulator(asio::io_context& ioc, OpenAiEmulatorOptions options)
    : impl_(std::make_shared<Impl>(ioc, std::move(options))) {}

OpenAiEmulator::~OpenAiEmulator() = default;

void OpenAiEmulator::add_routes(net::Router& router) {
  auto impl = impl_;
  auto chat = [impl](const HttpRequest& req) -> asio::awaitable<HttpResponse> { co_return co_await impl->chat(req); };
  router.add("POST", "/v1/chat/completions", chat);
  router.add("POST", "/chat/completions", chat);
  router.add("GET", "/v1/models", [](const HttpRequest&) -> asio::awaitable<HttpResponse> {
    co_return HttpResponse::json(200, R"({"object":"list","data":[{"id":"emulated","object":"model","created":1700000000,"owned_by":"voxbridge"}]})");
  });
  for (const char* path : {"/emulator/requests", "/emulator/rules", "/emulator/faults", "/emulator/latency"}) {
    for (const char* method : {"GET", "POST", "DELETE"}) {
      router.add(method, path, [impl](const HttpRequest& req) -> asio::awaitable<HttpResponse> { co_return impl->admin(req); });
    }
  }
}

}  // namespace vox::sim
