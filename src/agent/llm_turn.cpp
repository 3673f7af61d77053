#include "agent/llm_turn.hpp"
#include "core/json_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <random>

#include "agent/agent.hpp"
#include "agent/speakable.hpp"
#include "core/countdown.hpp"
#include "core/spawn.hpp"
#include "net/client.hpp"

namespace vox::agent {
namespace asio = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

void CallState::keep_heard(const std::string& cut_piece, const std::string& heard) {
  long cut = -1;
  for (long i = static_cast<long>(spoken.size()) - 1; i >= 0; --i) {
    if (spoken[static_cast<std::size_t>(i)].text == cut_piece) {
      cut = i;
      break;
    }
  }
  if (cut < 0) return;  // the cut reply was not this agent's (e.g. text sent over the control API)
  std::map<long, std::string> kept;  // message -> the words of it that were heard
  for (long i = 0; i < static_cast<long>(spoken.size()); ++i) {
    const auto& p = spoken[static_cast<std::size_t>(i)];
    if (p.message < 0 || p.message >= static_cast<long>(history.size())) continue;
    auto& text = kept[p.message];
    const std::string part = i < cut ? p.text : i == cut ? heard : std::string();
    if (!part.empty()) text += (text.empty() ? "" : " ") + part;
  }
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
    auto& m = history[static_cast<std::size_t>(it->first)];
    if (m.role != "assistant") continue;
    m.content = it->second;
    if (m.content.empty() && m.tool_calls.empty()) history.erase(history.begin() + it->first);
  }
  spoken.clear();
}

void CallState::settle_pending(std::string content, std::vector<ToolCall> calls) {
  long index = kNoMessage;
  if (!content.empty() || !calls.empty()) {
    history.push_back(ChatMessage{"assistant", std::move(content), std::move(calls), ""});
    index = static_cast<long>(history.size()) - 1;
  }
  for (auto& p : spoken) {
    if (p.message == kPending) p.message = index;
  }
}

std::string CallState::pending_text() const {
  std::string out;
  for (const auto& p : spoken) {
    if (p.message == kPending) out += (out.empty() ? "" : " ") + p.text;
  }
  return out;
}

std::vector<ChatMessage> CallState::snapshot() const {
  const auto size_of = [](const ChatMessage& m) {
    std::size_t n = m.content.size() + 16;
    for (const auto& c : m.tool_calls) n += c.name.size() + c.arguments.size() + 16;
    return n;
  };
  std::size_t total = 0;
  for (const auto& m : history) total += size_of(m);
  std::size_t drop_until = 1;  // history[0] is the system prompt
  const std::size_t cap = shared->settings.history_max_chars;
  // Drop the oldest messages until the rest fits, keeping the newest message, and never
  // starting on a tool answer whose call was dropped.
  while (total > cap && drop_until + 1 < history.size()) total -= size_of(history[drop_until++]);
  while (drop_until + 1 < history.size() && history[drop_until].role == "tool") total -= size_of(history[drop_until++]);
  std::vector<ChatMessage> out;
  out.reserve(history.size() - drop_until + 1);
  out.push_back(history.front());
  for (std::size_t i = drop_until; i < history.size(); ++i) out.push_back(history[i]);
  return out;
}

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Sends pieces to the call, stamps the turn's first part with the LLM timings, and
// remembers what was sent (for the heard-words cut).
class Speaker {
 public:
  Speaker(CallState& state, std::function<void(call::AgentReply)>& reply) : state_(state), reply_(reply) {}

  void request_started() {
    if (!request_started_) request_started_ = Clock::now();
  }
  void token() {
    if (!first_token_) first_token_ = Clock::now();
  }
  // A part of the answer; `message` is the history index it belongs to (-1: none).
  void piece(std::string text, long message) {
    if (text.empty()) return;
    call::AgentReply r;
    r.text = std::move(text);
    r.more = true;
    send(std::move(r), message);
  }
  // The turn's last part (text may be empty).
  void last(call::AgentReply r, long message) { send(std::move(r), message); }
  // A tool used; reported with the next part sent.
  void note(call::ToolNote n) { notes_.push_back(std::move(n)); }
  int sent() const { return sent_; }

 private:
  void send(call::AgentReply r, long message) {
    r.tools = std::move(notes_);
    notes_.clear();
    if (sent_ == 0 && request_started_) {
      const auto now = Clock::now();
      if (first_token_) {
        r.llm_first_token_ms = ms_between(*request_started_, *first_token_);
        r.llm_first_piece_ms = ms_between(*first_token_, now);
      }
    }
    {
      std::lock_guard lock(state_.mutex);
      if (!r.text.empty()) state_.spoken.push_back({r.text, message});
    }
    ++sent_;
    reply_(std::move(r));
  }
  CallState& state_;
  std::function<void(call::AgentReply)>& reply_;
  std::optional<Clock::time_point> request_started_, first_token_;
  std::vector<call::ToolNote> notes_;
  int sent_ = 0;
};

struct RoundResult {
  std::string text;  // everything the model wrote
  std::string rest;  // the unfinished tail not yet spoken
  std::vector<ToolCall> tool_calls;
  std::string failure;  // "" on success
  bool any_token = false;
};

// Whether turn `generation` is still the newest (and the call still on).
bool current(CallState& state, int generation) {
  std::lock_guard lock(state.mutex);
  return !state.closed && state.generation == generation;
}

// One streamed request (retried before its first token): speaks pieces as they form.
asio::awaitable<RoundResult> stream_round(std::shared_ptr<CallState> state, std::string body, Speaker& speaker,
                                          long message, int generation) {
  const auto& sh = *state->shared;
  const auto& s = sh.settings;
  RoundResult out;
  const auto started = Clock::now();
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 1;; ++attempt) {
    out = RoundResult{};
    SpeakableSplitter splitter;
    SseParser sse;
    ToolCallAssembler tools;
    std::vector<SseEvent> events;
    std::string raw;  // a server that ignores "stream": one JSON body
    bool saw_event = false, done = false, oversize = false;
    int malformed = 0;
    std::string stream_error;
    net::ClientRequest req;
    req.method = "POST";
    req.url = s.base_url + "/chat/completions";
    req.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
    if (!s.api_key.empty()) req.headers.emplace_back("Authorization", "Bearer " + s.api_key);
    req.body = body;
    req.read_timeout = std::chrono::milliseconds(s.first_token_timeout_ms);
    speaker.request_started();
    std::function<bool(std::string_view)> on_data = [&](std::string_view bytes) {
      if (!current(*state, generation)) return false;
      if (!saw_event && raw.size() < (1u << 20)) raw.append(bytes);
      if (!sse.feed(bytes, events)) {
        stream_error = "an event larger than 1 MiB";
        return false;
      }
      for (auto& e : events) {
        saw_event = true;
        std::string why;
        auto chunk = parse_chat_chunk(e.data, why);
        if (!chunk) {
          if (++malformed == 1) {
            spdlog::warn("llm agent call_sid={}: a malformed stream event skipped ({}): {}", state->call.call_sid, why,
                         e.data.substr(0, 120));
          }
          continue;
        }
        if (chunk->done) {
          done = true;
          continue;
        }
        if (!chunk->error.empty()) {
          stream_error = "the model server sent an error: " + chunk->error;
          return false;
        }
        if (!chunk->content.empty()) {
          speaker.token();
          out.any_token = true;
          out.text += chunk->content;
          if (out.text.size() > s.max_answer_chars) {
            oversize = true;
            return false;
          }
          for (auto& p : splitter.feed(chunk->content)) speaker.piece(std::move(p), message);
        }
        for (const auto& d : chunk->tool_calls) {
          speaker.token();
          out.any_token = true;
          if (!tools.add(d)) {
            stream_error = "a malformed or oversize tool call";
            return false;
          }
        }
      }
      events.clear();
      return true;
    };
    int status = 0;
    std::string error_body;
    try {
      auto res = co_await sh.http.send_streaming(std::move(req), std::move(on_data));
      status = res.status;
      error_body = res.body;
    } catch (const net::TransportError& e) {
      out.failure = e.what();
    } catch (const std::exception& e) {
      out.failure = e.what();
    }
    if (out.failure.empty() && (status < 200 || status >= 300)) {
      out.failure = "status " + std::to_string(status) + ": " + error_message_of(error_body);
    }
    if (out.failure.empty() && !stream_error.empty()) out.failure = stream_error;
    if (out.failure.empty() && !saw_event && !raw.empty()) {
      // Not a stream: a whole chat.completion.
      std::string why;
      auto whole = parse_chat_completion(raw, why);
      if (!whole) {
        out.failure = "the answer is neither an event stream nor a chat completion (" + why + ")";
      } else if (!whole->error.empty()) {
        out.failure = "the model server sent an error: " + whole->error;
      } else {
        speaker.token();
        out.any_token = true;
        out.text = whole->content.substr(0, s.max_answer_chars);
        for (auto& p : splitter.feed(out.text)) speaker.piece(std::move(p), message);
        for (const auto& d : whole->tool_calls) tools.add(d);
      }
    }
    if (out.failure.empty() && saw_event && !done && !oversize && out.text.empty() && tools.empty()) {
      out.failure = "the stream ended without an answer";
    }
    if (oversize) {
      spdlog::warn("llm agent call_sid={}: the answer passed {} characters; cut there", state->call.call_sid,
                   s.max_answer_chars);
    }
    out.rest = splitter.finish();
    out.tool_calls = tools.take();
    if (out.failure.empty()) co_return out;
    const bool retryable = !out.any_token && (status == 0 || status == 429 || status >= 500);
    const auto delay = std::chrono::milliseconds(std::min(2000, 250 << (attempt - 1)) / 2 +
                                                 static_cast<int>(rng() % static_cast<unsigned>(std::min(2000, 250 << (attempt - 1)) / 2 + 1)));
    const bool in_budget = Clock::now() - started + delay < std::chrono::milliseconds(s.retry_budget_ms);
    if (!retryable || attempt >= s.max_attempts || !in_budget || !current(*state, generation)) co_return out;
    spdlog::info("llm agent call_sid={}: attempt {} failed ({}); retrying in {} ms", state->call.call_sid, attempt,
                 out.failure, delay.count());
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// The result of one tool call, as the model will read it.
struct ToolOutcome {
  std::string content;
  bool ok = true;
};

asio::awaitable<ToolOutcome> call_http_tool(const HttpTool& tool, std::string arguments, net::HttpClient& http) {
  net::ClientRequest req;
  req.method = tool.method;
  req.headers = tool.headers;
  req.read_timeout = std::chrono::milliseconds(tool.timeout_ms);
  if (tool.method == "GET") {
    std::string query;
    boost::system::error_code ec;
    auto v = json::parse(arguments.empty() ? std::string("{}") : arguments, ec);
    if (!ec && v.is_object()) {
      for (const auto& [k, val] : v.as_object()) {
        std::string value = val.is_string() ? std::string(val.as_string()) : vox::json_text(val);
        std::string enc;
        for (unsigned char c : value) {
          if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') enc += static_cast<char>(c);
          else {
            static const char* hex = "0123456789ABCDEF";
            enc += '%';
            enc += hex[c >> 4];
            enc += hex[c & 15];
          }
        }
        query += (query.empty() ? "" : "&") + std::string(k) + "=" + enc;
      }
    }
    req.url = tool.url + (query.empty() ? "" : (tool.url.find('?') == std::string::npos ? "?" : "&") + query);
  } else {
    req.url = tool.url;
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = arguments.empty() ? "{}" : arguments;
  }
  ToolOutcome out;
  try {
    auto res = co_await http.send(std::move(req));
    if (res.status >= 200 && res.status < 300) {
      out.content = res.body.substr(0, 8000);
      if (out.content.empty()) out.content = "done";
    } else {
      out.ok = false;
      out.content = "error: the tool answered status " + std::to_string(res.status) + ": " + res.body.substr(0, 300);
    }
  } catch (const std::exception& e) {
    // The model and the call's events get no transport detail (it names the URL, which
    // may carry a key); the log line does, with configured secrets hidden.
    spdlog::warn("llm tool {} could not be reached: {}", tool.spec.name, e.what());
    out.ok = false;
    out.content = "error: the tool could not be reached (connection failed, timed out or was reset)";
  }
  co_return out;
}

struct ToolBatch {
  std::mutex mutex;
  std::vector<ToolOutcome> results;
};

asio::awaitable<bool> wait_tools(std::shared_ptr<Countdown> countdown, Clock::time_point deadline) {
  co_return co_await countdown->wait_zero(deadline);
}

std::string str_arg(const std::string& arguments, const char* key) {
  boost::system::error_code ec;
  auto v = json::parse(arguments.empty() ? std::string("{}") : arguments, ec);
  if (ec || !v.is_object()) return {};
  const auto* f = v.as_object().if_contains(key);
  return f && f->is_string() ? std::string(f->as_string()) : std::string();
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + " " + b;
}

}  // namespace

asio::awaitable<void> run_turn(std::shared_ptr<CallState> state, int turn, int generation,
                               std::function<void(call::AgentReply)> reply) {
  const auto& sh = *state->shared;
  const auto& s = sh.settings;
  const std::string& sid = state->call.call_sid;
  Speaker speaker(*state, reply);
  for (int round = 1; round <= s.max_tool_rounds; ++round) {
    if (!current(*state, generation)) co_return;
    std::vector<ChatMessage> messages;
    {
      std::lock_guard lock(state->mutex);
      messages = state->snapshot();
    }
    std::string body = chat_request_body(sh.options, messages, sh.specs);
    RoundResult r = co_await stream_round(state, std::move(body), speaker, kPending, generation);
    if (!r.failure.empty()) {
      if (sh.observer) sh.observer->request_failed(r.failure);
      spdlog::warn("llm agent failed call_sid={} turn={} url={}/chat/completions error=\"{}\": speaking {}the fallback "
                   "phrase (check LLM_BASE_URL, LLM_MODEL and LLM_API_KEY)",
                   sid, turn, s.base_url, r.failure, r.any_token ? "what it said and " : "");
      {
        // What was spoken (and the tail about to be) stays in the history as the answer.
        std::lock_guard lock(state->mutex);
        if (state->closed || state->generation != generation) co_return;
        state->settle_pending(join(state->pending_text(), r.rest), {});
      }
      call::AgentReply last;
      last.text = join(r.rest, s.fallback_text);
      speaker.last(std::move(last), kNoMessage);
      co_return;
    }
    if (r.tool_calls.empty()) {
      {
        std::lock_guard lock(state->mutex);
        if (state->closed || state->generation != generation) co_return;
        // The tail is tagged pending by last() below; settle after it.
      }
      call::AgentReply last;
      last.text = r.rest;
      speaker.last(std::move(last), kPending);
      std::lock_guard lock(state->mutex);
      if (state->generation == generation) state->settle_pending(r.text, {});
      spdlog::debug("llm agent answered call_sid={} turn={} chars={}", sid, turn, r.text.size());
      co_return;
    }
    {
      std::lock_guard lock(state->mutex);
      if (state->closed || state->generation != generation) co_return;
    }
    // A tool round: speak what came before the calls, run them, ask again.
    speaker.piece(r.rest, kPending);
    std::vector<ToolOutcome> outcomes(r.tool_calls.size());
    std::vector<std::size_t> http_calls;
    call::AgentReply final_reply;
    bool ends_turn = false;
    for (std::size_t i = 0; i < r.tool_calls.size(); ++i) {
      const auto& c = r.tool_calls[i];
      const ToolSpec* spec = nullptr;
      for (const auto& t : sh.specs) {
        if (t.name == c.name) spec = &t;
      }
      if (!spec) {
        std::string names;
        for (const auto& t : sh.specs) names += (names.empty() ? "" : ", ") + t.name;
        outcomes[i] = {"error: there is no tool named \"" + c.name + "\"; the tools are: " + names, false};
        spdlog::warn("llm agent call_sid={} turn={}: the model called an unknown tool \"{}\"", sid, turn, c.name);
        continue;
      }
      if (auto bad = validate_arguments(spec->parameters_json, c.arguments); !bad.empty()) {
        outcomes[i] = {"error: invalid arguments: " + bad, false};
        spdlog::warn("llm agent call_sid={} turn={}: invalid arguments for {}: {}", sid, turn, c.name, bad);
        continue;
      }
      spdlog::info("llm agent call_sid={} turn={}: tool call {} {}", sid, turn, c.name, c.arguments.substr(0, 200));
      if (c.name == "end_call") {
        final_reply.text = join(final_reply.text, str_arg(c.arguments, "goodbye"));
        final_reply.hangup = true;
        ends_turn = true;
        outcomes[i] = {"the call ends after the goodbye", true};
      } else if (c.name == "transfer_call") {
        const auto to = str_arg(c.arguments, "to");
        if (!transfer_allowed(s.transfer_allow, to)) {
          outcomes[i] = {"error: \"" + to + "\" is not a target this line may transfer to", false};
          spdlog::warn("llm agent call_sid={} turn={}: transfer to a target outside the allow-list refused", sid, turn);
        } else {
          final_reply.text = join(final_reply.text, str_arg(c.arguments, "announcement"));
          final_reply.transfer_to = to;
          ends_turn = true;
          outcomes[i] = {"transferring to " + to, true};
        }
      } else if (c.name == "send_dtmf") {
        const auto digits = str_arg(c.arguments, "digits");
        if (!valid_digits(digits)) {
          outcomes[i] = {"error: digits must be 1-64 of 0-9, *, # and w", false};
        } else {
          call::AgentReply keys;
          keys.digits = digits;
          speaker.last(std::move(keys), kNoMessage);
          outcomes[i] = {"pressed " + digits, true};
        }
      } else {
        http_calls.push_back(i);
      }
    }
    if (!http_calls.empty()) {
      // Several calls run at once; a filler phrase covers a slow one.
      auto batch = std::make_shared<ToolBatch>();
      batch->results.resize(r.tool_calls.size());
      auto strand = asio::make_strand(co_await asio::this_coro::executor);
      auto countdown = std::make_shared<Countdown>(strand);
      int longest_ms = 0;
      for (auto i : http_calls) {
        const HttpTool* tool = nullptr;
        for (const auto& t : sh.http_tools) {
          if (t.spec.name == r.tool_calls[i].name) tool = &t;
        }
        longest_ms = std::max(longest_ms, tool->timeout_ms);
        countdown->add();
        auto run = [](std::shared_ptr<CallState> st, const HttpTool* t, std::string args, std::shared_ptr<ToolBatch> b,
                      std::size_t at, std::shared_ptr<Countdown> cd) -> asio::awaitable<void> {
          ToolOutcome o = co_await call_http_tool(*t, std::move(args), st->shared->http);
          {
            std::lock_guard lock(b->mutex);
            b->results[at] = std::move(o);
          }
          cd->done();
        };
        vox::spawn(sh.http.executor(), run(state, tool, r.tool_calls[i].arguments, batch, i, countdown), "llm tool call");
      }
      auto filler_at = Clock::now() + std::chrono::milliseconds(s.filler_after_ms);
      bool all = co_await asio::co_spawn(strand, wait_tools(countdown, filler_at), asio::use_awaitable);
      if (!all && current(*state, generation) && !s.filler_text.empty()) speaker.piece(s.filler_text, kNoMessage);
      if (!all) {
        auto deadline = Clock::now() + std::chrono::milliseconds(longest_ms + 2000);
        co_await asio::co_spawn(strand, wait_tools(countdown, deadline), asio::use_awaitable);
      }
      std::lock_guard lock(batch->mutex);
      for (auto i : http_calls) {
        outcomes[i] = batch->results[i];
        if (outcomes[i].content.empty()) outcomes[i] = {"error: the tool did not answer in time", false};
      }
    }
    {
      std::lock_guard lock(state->mutex);
      if (state->closed || state->generation != generation) co_return;
      state->settle_pending(r.text, r.tool_calls);
      for (std::size_t i = 0; i < r.tool_calls.size(); ++i) {
        if (sh.observer) sh.observer->tool_called(r.tool_calls[i].name, outcomes[i].ok);
        speaker.note({r.tool_calls[i].name, r.tool_calls[i].arguments.substr(0, 2000), outcomes[i].content.substr(0, 2000),
                      outcomes[i].ok});
        state->history.push_back(ChatMessage{"tool", outcomes[i].content, {}, r.tool_calls[i].id});
      }
    }
    if (ends_turn) {
      if (!current(*state, generation)) co_return;
      if (final_reply.hangup && final_reply.text.empty() && speaker.sent() == 0) final_reply.text = "Goodbye.";
      speaker.last(std::move(final_reply), kNoMessage);
      co_return;
    }
  }
  spdlog::warn("llm agent call_sid={} turn={}: no answer after {} tool rounds; speaking the fallback phrase", sid, turn,
               s.max_tool_rounds);
  if (!current(*state, generation)) co_return;
  call::AgentReply last;
  last.text = s.fallback_text;
  speaker.last(std::move(last), kNoMessage);
}

}  // namespace vox::agent
