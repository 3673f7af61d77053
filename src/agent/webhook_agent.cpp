#include "agent/webhook_agent.hpp"
#include "core/json_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>

#include "agent/text.hpp"
#include "core/spawn.hpp"
#include "core/hash.hpp"
#include "net/client.hpp"

namespace vox::agent {
namespace asio = boost::asio;
namespace json = boost::json;

using text::is_space;
using text::trimmed;

std::vector<std::string> take_sentences(std::string& buffer) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (std::size_t i = 0; i < buffer.size(); ++i) {
    const char c = buffer[i];
    const bool end = c == '\n' || ((c == '.' || c == '!' || c == '?') && i + 1 < buffer.size() && is_space(buffer[i + 1]));
    if (!end) continue;
    auto s = trimmed(std::string_view(buffer).substr(from, i + 1 - from));
    if (!s.empty()) out.push_back(std::move(s));
    from = i + 1;
  }
  buffer.erase(0, from);
  return out;
}

namespace {

struct Shared {
  Shared(net::HttpClient& h, WebhookSettings s, call::CallContext c) : http(h), settings(std::move(s)), call(std::move(c)) {}
  net::HttpClient& http;
  WebhookSettings settings;
  call::CallContext call;
};

// A JSON answer ({"text", "hangup", "transfer_to", "digits"}) as a call::AgentReply; nullopt when
// `body` is not such an object.
std::optional<call::AgentReply> reply_from_json(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  call::AgentReply r;
  auto str = [&o](const char* key) -> std::string {
    const auto* f = o.if_contains(key);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  r.text = str("text");
  if (r.text.empty()) r.text = str("response");  // the /generate-style field name
  r.transfer_to = str("transfer_to");
  r.digits = str("digits");
  if (!r.digits.empty() && !valid_digits(r.digits)) {
    spdlog::warn("webhook agent: \"digits\" holds keys Twilio cannot press ({} bytes; allowed: 0-9 * # w); not pressed",
                 r.digits.size());
    r.digits.clear();
  }
  if (const auto* h = o.if_contains("hangup"); h && h->is_bool()) r.hangup = h->as_bool();
  return r;
}

// Reads one turn's answer as it streams in and hands each part on.
class AnswerReader {
 public:
  explicit AnswerReader(std::function<void(call::AgentReply)>& reply) : reply_(reply) {}

  void feed(std::string_view piece) {
    if (!kind_) {
      buffer_.append(piece);
      const auto first = buffer_.find_first_not_of(" \t\r\n");
      if (first == std::string::npos) return;
      kind_ = buffer_[first] == '{' ? Kind::json : Kind::text;
      piece = {};
    } else {
      buffer_.append(piece);
    }
    if (*kind_ == Kind::text) {
      for (auto& s : take_sentences(buffer_)) part(std::move(s));
      return;
    }
    // JSON: complete lines that parse on their own are NDJSON parts.
    for (auto nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n')) {
      const std::string line = buffer_.substr(0, nl);
      auto r = reply_from_json(line);
      if (!r) return;  // a pretty-printed object: wait for the whole body
      buffer_.erase(0, nl + 1);
      ndjson_ = true;
      if (r->hangup || !r->transfer_to.empty() || !r->digits.empty()) final_ = std::move(r);
      else if (!r->text.empty()) part(std::move(r->text));
    }
  }

  // The body is complete; returns false when it was not a usable answer.
  bool finish() {
    call::AgentReply last;
    if (final_) last = std::move(*final_);
    if (kind_ == Kind::json && !trimmed(buffer_).empty()) {
      auto r = reply_from_json(buffer_);
      if (!r) return false;
      if (ndjson_ && !last.hangup && last.transfer_to.empty() && last.digits.empty()) {
        last = std::move(*r);
      } else if (!ndjson_) {
        last = std::move(*r);
      }
    } else if (kind_ == Kind::text) {
      last.text = trimmed(buffer_);
    }
    if (!last.text.empty() || last.hangup || !last.transfer_to.empty() || !last.digits.empty() || parts_ > 0) {
      reply_(std::move(last));
      return true;
    }
    return true;  // an empty answer (or 204): say nothing
  }

  int parts() const { return parts_; }

 private:
  enum class Kind { json, text };
  void part(std::string text) {
    ++parts_;
    call::AgentReply r;
    r.text = std::move(text);
    r.more = true;
    reply_(std::move(r));
  }
  std::function<void(call::AgentReply)>& reply_;
  std::optional<Kind> kind_;
  std::optional<call::AgentReply> final_;
  std::string buffer_;
  bool ndjson_ = false;
  int parts_ = 0;
};

std::string request_body(const call::CallContext& call, const call::Turn& turn) {
  json::object params;
  for (const auto& [k, v] : call.parameters) params[k] = v;
  json::object o{{"call_sid", call.call_sid},
                 {"text", turn.transcript},
                 {"turn", turn.index},
                 {"from", call.from},
                 {"to", call.to},
                 {"agent_id", call.agent_id},
                 {"barged_in", turn.barged_in},
                 {"interrupted_reply_heard", turn.interrupted_reply_heard},
                 {"parameters", std::move(params)}};
  return vox::json_text(o);
}

asio::awaitable<void> ask(std::shared_ptr<const Shared> sh, std::string body, int turn,
                          std::function<void(call::AgentReply)> reply) {
  net::ClientRequest req;
  req.method = "POST";
  req.url = sh->settings.url;
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json, application/x-ndjson, text/plain"}};
  if (!sh->settings.secret.empty()) req.headers.emplace_back("X-Voxbridge-Signature", hmac_sha256_hex(sh->settings.secret, body));
  req.body = std::move(body);
  req.read_timeout = std::chrono::milliseconds(sh->settings.timeout_ms);
  AnswerReader reader(reply);
  const auto started = std::chrono::steady_clock::now();
  std::string failure;
  try {
    std::function<bool(std::string_view)> on_data = [&reader](std::string_view piece) {
      reader.feed(piece);
      return true;
    };
    net::HttpResponse res = co_await sh->http.send_streaming(std::move(req), std::move(on_data));
    if (res.status < 200 || res.status >= 300) failure = "status " + std::to_string(res.status) + " " + res.body.substr(0, 200);
    else if (!reader.finish()) failure = "the answer is neither JSON {\"text\": ...} nor text";
  } catch (const std::exception& e) {
    failure = e.what();
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (failure.empty()) {
    spdlog::debug("webhook agent answered call_sid={} turn={} ms={} parts={}", sh->call.call_sid, turn, ms, reader.parts());
    co_return;
  }
  spdlog::warn("webhook agent failed call_sid={} turn={} url={} after_ms={} error=\"{}\": speaking the fallback phrase "
               "(check AGENT_WEBHOOK_URL and that the endpoint answers within {} ms)",
               sh->call.call_sid, turn, sh->settings.url, ms, failure, sh->settings.timeout_ms);
  call::AgentReply r;
  r.text = sh->settings.fallback_text;
  reply(std::move(r));
}

class WebhookAgent final : public call::Agent {
 public:
  WebhookAgent(std::shared_ptr<const Shared> shared, std::string greeting)
      : shared_(std::move(shared)), greeting_(std::move(greeting)) {}
  std::string greeting() override { return greeting_; }
  void on_turn(const call::Turn& turn, std::function<void(call::AgentReply)> reply) override {
    std::string body = request_body(shared_->call, turn);
    const int index = turn.index;
    vox::spawn(shared_->http.executor(), ask(shared_, std::move(body), index, std::move(reply)), "webhook agent request");
  }

 private:
  std::shared_ptr<const Shared> shared_;
  std::string greeting_;
};

}  // namespace

std::unique_ptr<call::Agent> make_webhook_agent(net::HttpClient& http, const WebhookSettings& settings,
                                          const call::CallContext& call, std::string greeting) {
  auto shared = std::make_shared<const Shared>(http, settings, call);
  return std::make_unique<WebhookAgent>(std::move(shared), std::move(greeting));
}

}  // namespace vox::agent
