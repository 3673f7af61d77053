#include "sim/twilio_emulator.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <ctime>
#include <map>
#include <mutex>
#include <random>

#include "core/base64.hpp"
#include "net/client.hpp"
#include "sim/caller.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/sphinx_stt.hpp"
#include "twilio/rest_client.hpp"
#include "twilio/signature.hpp"

namespace vox::sim {
namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;

namespace {

std::string random_hex(std::size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += hex[rng() % 16];
  return s;
}

std::string rfc2822_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

HttpResponse twilio_error(int status, int code, const std::string& message) {
  return HttpResponse::json(status, json::serialize(json::object{
                                        {"code", code},
                                        {"message", message},
                                        {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
                                        {"status", status}}));
}

struct CallRecord {
  std::string sid;
  std::string to, from, url, twiml, method = "POST";
  std::string status_callback;
  std::vector<std::string> events;  // requested StatusCallbackEvent values
  std::string status = "queued";
  std::string start_time, end_time, date_created;
  int duration_s = 0;
  json::array history;
  json::array callbacks;
  json::array heard;
  std::string fetched_twiml;
  std::string redirect_twiml;  // set by a live update with Twiml
  std::string dialed;          // the target of a <Dial> we ran
  bool inbound = false;
  std::string error;
  int callback_seq = 0;
  std::shared_ptr<std::atomic<bool>> hangup = std::make_shared<std::atomic<bool>>(false);
  std::chrono::steady_clock::time_point answered_at;
};

}  // namespace

struct TwilioEmulator::Impl : std::enable_shared_from_this<TwilioEmulator::Impl> {
  asio::io_context& ioc;
  TwilioEmulatorOptions opt;
  speech::EspeakTts& tts;
  speech::PocketsphinxStt* stt;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<CallRecord>> calls;
  std::vector<std::string> order;
  json::array requests;

  Impl(asio::io_context& io, TwilioEmulatorOptions o, speech::EspeakTts& t, speech::PocketsphinxStt* s)
      : ioc(io), opt(std::move(o)), tts(t), stt(s) {}

  json::object call_json(const CallRecord& c) const {
    json::object o{{"sid", c.sid},
                   {"date_created", c.date_created},
                   {"date_updated", rfc2822_now()},
                   {"parent_call_sid", nullptr},
                   {"account_sid", opt.account_sid},
                   {"to", c.to},
                   {"to_formatted", c.to},
                   {"from", c.from},
                   {"from_formatted", c.from},
                   {"phone_number_sid", nullptr},
                   {"status", c.status},
                   {"start_time", c.start_time.empty() ? json::value(nullptr) : json::value(c.start_time)},
                   {"end_time", c.end_time.empty() ? json::value(nullptr) : json::value(c.end_time)},
                   {"duration", c.end_time.empty() ? json::value(nullptr) : json::value(std::to_string(c.duration_s))},
                   {"price", nullptr},
                   {"price_unit", "USD"},
                   {"direction", c.inbound ? "inbound" : "outbound-api"},
                   {"answered_by", nullptr},
                   {"api_version", "2010-04-01"},
                   {"forwarded_from", nullptr},
                   {"group_sid", nullptr},
                   {"caller_name", nullptr},
                   {"queue_time", "0"},
                   {"trunk_sid", nullptr},
                   {"uri", "/2010-04-01/Accounts/" + opt.account_sid + "/Calls/" + c.sid + ".json"},
                   {"subresource_uris", json::object{}}};
    return o;
  }

  void record_request(const HttpRequest& req, int status) {
    json::object h;
    for (const auto& [k, v] : req.headers) {
      std::string lk = k;
      for (auto& ch : lk) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      h[lk] = v;
    }
    std::lock_guard lock(mu);
    requests.push_back(json::object{{"method", req.method}, {"target", req.target}, {"headers", h},
                                    {"content_type", std::string(req.header("content-type"))}, {"body", req.body},
                                    {"status", status}});
  }

  bool authorized(const HttpRequest& req, std::string_view account) const {
    if (account != opt.account_sid) return false;
    const std::string creds = opt.account_sid + ":" + opt.auth_token;
    std::string b64;
    base64::append(b64, std::span(reinterpret_cast<const std::uint8_t*>(creds.data()), creds.size()));
    return req.header("Authorization") == "Basic " + b64;
  }

  void set_status(CallRecord& c, const std::string& s) {
    c.status = s;
    c.history.push_back(json::string(s));
  }

  // A status callback, signed like Twilio's, for `event` (also the CallStatus).
  asio::awaitable<void> callback(std::shared_ptr<CallRecord> c, std::string call_status, std::string event) {
    std::string url;
    net::Headers headers;
    std::string body;
    {
      std::lock_guard lock(mu);
      if (c->status_callback.empty()) co_return;
      const bool wanted = (c->events.empty() && event == "completed") ||
                          std::find(c->events.begin(), c->events.end(), event) != c->events.end();
      if (!wanted) co_return;
      url = c->status_callback;
      twilio::FormParams p = {{"AccountSid", opt.account_sid}, {"ApiVersion", "2010-04-01"}, {"CallSid", c->sid},
                              {"CallStatus", call_status}, {"Direction", "outbound-api"}, {"From", c->from},
                              {"To", c->to}, {"Timestamp", rfc2822_now()}, {"CallbackSource", "call-progress-events"},
                              {"SequenceNumber", std::to_string(c->callback_seq++)}};
      if (call_status == "completed") {
        p.emplace_back("CallDuration", std::to_string(c->duration_s));
        p.emplace_back("Duration", std::to_string((c->duration_s + 59) / 60));
      }
      for (const auto& [k, v] : p) body += (body.empty() ? "" : "&") + k + "=" + twilio::form_encode(v);
      headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
      headers.emplace_back("X-Twilio-Signature", twilio::compute_signature(opt.auth_token, url, p));
    }
    int status = 0;
    std::string err;
    try {
      auto res = co_await net::http_request("POST", url, std::move(headers), body, std::chrono::seconds(5));
      status = res.status;
    } catch (const std::exception& e) {
      err = e.what();
    }
    std::lock_guard lock(mu);
    c->callbacks.push_back(json::object{{"event", event}, {"call_status", call_status}, {"url", url},
                                        {"response_status", status}, {"error", err}});
  }

  asio::awaitable<void> sleep_ms(int ms) {
    auto exec = co_await asio::this_coro::executor;
    asio::steady_timer t(exec, std::chrono::milliseconds(ms));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // The life of one call.
  asio::awaitable<void> run_call(std::shared_ptr<CallRecord> c) {
    auto self = shared_from_this();
    if (c->inbound) {
      std::lock_guard lock(mu);
      set_status(*c, "in-progress");
      c->start_time = rfc2822_now();
      c->answered_at = std::chrono::steady_clock::now();
    } else {
    co_await callback(c, "initiated", "initiated");
    {
      std::lock_guard lock(mu);
      if (c->status == "canceled") co_return;
      set_status(*c, "ringing");
    }
    co_await callback(c, "ringing", "ringing");
    co_await sleep_ms(opt.ring_ms);
    {
      std::lock_guard lock(mu);
      if (c->status == "canceled") co_return;
      set_status(*c, "in-progress");
      c->start_time = rfc2822_now();
      c->answered_at = std::chrono::steady_clock::now();
    }
    co_await callback(c, "in-progress", "answered");
    }
    // Fetch the TwiML (signed), or use the inline one.
    std::string twiml = c->twiml;
    std::string error;
    if (twiml.empty()) {
      twilio::FormParams p = {{"AccountSid", opt.account_sid}, {"ApiVersion", "2010-04-01"}, {"CallSid", c->sid},
                              {"CallStatus", c->inbound ? "ringing" : "in-progress"},
                              {"Direction", c->inbound ? "inbound" : "outbound-api"}, {"From", c->from},
                              {"To", c->to}};
      std::string body;
      for (const auto& [k, v] : p) body += (body.empty() ? "" : "&") + k + "=" + twilio::form_encode(v);
      net::Headers h = {{"Content-Type", "application/x-www-form-urlencoded"},
                        {"X-Twilio-Signature", twilio::compute_signature(opt.auth_token, c->url, p)}};
      try {
        auto res = co_await net::http_request("POST", c->url, std::move(h), body, std::chrono::seconds(10));
        if (res.status != 200) error = "TwiML URL answered " + std::to_string(res.status) + " (Twilio error 11200)";
        else twiml = res.body;
      } catch (const std::exception& e) {
        error = std::string("TwiML URL unreachable (Twilio error 11200): ") + e.what();
      }
    }
    {
      std::lock_guard lock(mu);
      c->fetched_twiml = twiml;
    }
    CallerResult result;
    if (error.empty()) {
      std::string stream_url;
      std::map<std::string, std::string> params;
      if (parse_stream_twiml(twiml, stream_url, params)) {
        CallerOptions co;
        co.twiml = twiml;
        co.call_sid = c->sid;
        co.account_sid = opt.account_sid;
        co.from = c->from;
        co.to = c->to;
        co.lines = opt.callee_lines;
        co.voice = opt.voice;
        co.auth_token = opt.auth_token;
        co.hangup = c->hangup;
        co.hang_up = true;
        result = co_await run_caller(co, CallerEngines{tts});
        if (!result.ok && !c->hangup->load()) error = result.error;
      } else if (twiml.find("<Hangup") == std::string::npos) {
        error = "TwiML without <Connect><Stream> (only Stream, Hangup supported in this path)";
      }
    }
    // A live update with new TwiML replaced the stream: run it (<Dial> is recorded, and
    // the dialed party is assumed to answer and hang up).
    {
      std::lock_guard lock(mu);
      if (!c->redirect_twiml.empty()) {
        const auto& t = c->redirect_twiml;
        for (const char* tag : {"<Number>", "<Sip>"}) {
          const auto b = t.find(tag);
          if (b == std::string::npos) continue;
          const auto start = b + std::string_view(tag).size();
          c->dialed = t.substr(start, t.find('<', start) - start);
        }
        if (t.find("<Dial") != std::string::npos && c->dialed.empty()) c->dialed = "?";
        error.clear();  // the stream ended because we redirected it
      }
    }
    {
      std::lock_guard lock(mu);
      set_status(*c, "completed");
      c->end_time = rfc2822_now();
      c->duration_s = static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::steady_clock::now() - c->answered_at)
                                           .count());
      c->error = error;
    }
    if (!error.empty()) {
      // Twilio's own warning codes, as its debugger would show them.
      const char* code = error.find("handshake") != std::string::npos ? "31920 Stream - WebSocket - Handshake Error"
                         : error.find("11200") != std::string::npos   ? "11200 HTTP retrieval failure"
                                                                      : "31921 Stream - WebSocket - Close Error";
      spdlog::warn("twilio emulator call {}: warning {}: {}", c->sid, code, error);
    }
    transcribe(c, std::move(result.heard));
    co_await callback(c, "completed", "completed");
  }

  // An inbound call: the number's voice URL is posted (signed), then the call runs like
  // any other (TwiML, media, callee).
  std::string ring_inbound(const std::string& voice_url, const std::string& from, const std::string& to) {
    auto c = std::make_shared<CallRecord>();
    c->sid = "CA" + random_hex(32);
    c->to = to;
    c->from = from;
    c->url = voice_url;
    c->inbound = true;
    c->date_created = rfc2822_now();
    c->history.push_back(json::string("ringing"));
    {
      std::lock_guard lock(mu);
      calls[c->sid] = c;
      order.push_back(c->sid);
    }
    asio::co_spawn(asio::make_strand(ioc), [self = shared_from_this(), c]() { return self->run_call(c); }, asio::detached);
    return c->sid;
  }

  void transcribe(std::shared_ptr<CallRecord> c, std::vector<HeardSegment> heard) {
    {
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i < heard.size(); ++i)
        c->heard.push_back(json::object{{"audio_ms", heard[i].ulaw.size() / 8}, {"cleared", heard[i].cleared},
                                        {"transcript", nullptr}});
    }
    if (!stt) return;
    for (std::size_t i = 0; i < heard.size(); ++i) {
      auto self = shared_from_this();
      stt->transcribe(speech::SttRequest{std::move(heard[i].ulaw), {}}, [self, c, i](speech::SttResult r) {
        std::lock_guard lock(self->mu);
        c->heard[i].as_object()["transcript"] = speech::PocketsphinxStt::normalize(r.text);
      });
    }
  }

  asio::awaitable<HttpResponse> handle(const HttpRequest& req) {
    if (req.path == "/emulator/calls") {
      std::lock_guard lock(mu);
      json::array arr;
      for (const auto& sid : order) {
        const auto& c = *calls[sid];
        auto o = call_json(c);
        o["status_history"] = c.history;
        o["callbacks"] = c.callbacks;
        o["twiml"] = c.fetched_twiml;
        o["heard"] = c.heard;
        o["error"] = c.error;
        o["redirect_twiml"] = c.redirect_twiml;
        o["dialed"] = c.dialed;
        arr.push_back(o);
      }
      co_return HttpResponse::json(200, json::serialize(arr));
    }
    if (req.path == "/emulator/inbound") {
      // {"url": "https://…/twilio-voice", "from": "+1…", "to": "+1…"}
      boost::system::error_code ec;
      auto v = json::parse(req.body, ec);
      if (ec || !v.is_object() || !v.as_object().contains("url"))
        co_return HttpResponse::error(400, "body must be {\"url\": ..., \"from\": ..., \"to\": ...}");
      const auto& o = v.as_object();
      auto get = [&](const char* k, const char* d) {
        const auto* x = o.if_contains(k);
        return x && x->is_string() ? std::string(x->as_string()) : std::string(d);
      };
      const auto sid = ring_inbound(get("url", ""), get("from", "+15550001111"), get("to", "+15550002222"));
      co_return HttpResponse::json(201, json::serialize(json::object{{"sid", sid}}));
    }
    if (req.path == "/emulator/requests") {
      std::lock_guard lock(mu);
      if (req.method == "DELETE") requests.clear();
      co_return HttpResponse::json(200, json::serialize(requests));
    }
    const std::string account(req.param("AccountSid"));
    if (!authorized(req, account)) {
      record_request(req, 401);
      co_return twilio_error(401, 20003, "Authenticate");
    }
    std::string sid(req.param("CallJson"));
    if (!sid.empty()) {
      if (sid.size() < 6 || sid.substr(sid.size() - 5) != ".json") {
        record_request(req, 404);
        co_return twilio_error(404, 20404, "The requested resource was not found");
      }
      sid.resize(sid.size() - 5);
    }
    if (req.method == "POST" && sid.empty()) co_return create(req);
    if (req.method == "GET" && sid.empty()) {
      const auto q = net::parse_form(req.query);
      json::array arr;
      {
        std::lock_guard lock(mu);
        for (const auto& s : order) {
          const auto& c = *calls[s];
          const auto st = net::form_value(q, "Status");
          const auto to = net::form_value(q, "To");
          if ((!st.empty() && c.status != st) || (!to.empty() && c.to != to)) continue;
          arr.push_back(call_json(c));
        }
      }
      record_request(req, 200);
      const std::string uri = "/2010-04-01/Accounts/" + opt.account_sid + "/Calls.json";
      co_return HttpResponse::json(200, json::serialize(json::object{
                                            {"calls", arr}, {"page", 0}, {"page_size", 50}, {"start", 0},
                                            {"end", arr.empty() ? 0 : static_cast<int>(arr.size()) - 1},
                                            {"uri", uri}, {"first_page_uri", uri}, {"next_page_uri", nullptr},
                                            {"previous_page_uri", nullptr}}));
    }
    std::shared_ptr<CallRecord> c;
    {
      std::lock_guard lock(mu);
      if (auto it = calls.find(sid); it != calls.end()) c = it->second;
    }
    if (!c) {
      record_request(req, 404);
      co_return twilio_error(404, 20404, "The requested resource /2010-04-01/Accounts/" + account + "/Calls/" + sid +
                                             ".json was not found");
    }
    if (req.method == "GET") {
      record_request(req, 200);
      std::lock_guard lock(mu);
      co_return HttpResponse::json(200, json::serialize(call_json(*c)));
    }
    if (req.method == "DELETE") {
      record_request(req, 204);
      std::lock_guard lock(mu);
      calls.erase(sid);
      std::erase(order, sid);
      co_return HttpResponse::text(204, "", "application/json");
    }
    // Update.
    const auto form = net::parse_form(req.body);
    const std::string status(net::form_value(form, "Status"));
    const std::string new_twiml(net::form_value(form, "Twiml"));
    std::optional<HttpResponse> refused;
    json::object answer;
    {
      std::lock_guard lock(mu);
      if (status == "completed" || status == "canceled") {
        if (c->status == "queued" || c->status == "ringing") {
          set_status(*c, "canceled");
        } else if (c->status == "in-progress") {
          c->hangup->store(true);  // the media session ends; run_call completes the call
        } else if (status == "completed") {
          refused = twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.");
        }
      } else if (!status.empty()) {
        refused = twilio_error(400, 21218, "Invalid status " + status);
      } else if (!new_twiml.empty()) {
        if (c->status != "in-progress") {
          refused = twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.");
        } else {
          c->redirect_twiml = new_twiml;  // ends the stream; run_call then runs this TwiML
          c->hangup->store(true);
        }
      }
      answer = call_json(*c);
    }
    record_request(req, refused ? refused->status : 200);
    if (refused) co_return std::move(*refused);
    co_return HttpResponse::json(200, json::serialize(answer));
  }

  HttpResponse create(const HttpRequest& req) {
    if (req.header("Content-Type").find("application/x-www-form-urlencoded") == std::string_view::npos) {
      record_request(req, 400);
      return twilio_error(400, 20001, "Content-Type must be application/x-www-form-urlencoded");
    }
    const auto form = net::parse_form(req.body);
    auto c = std::make_shared<CallRecord>();
    c->to = std::string(net::form_value(form, "To"));
    c->from = std::string(net::form_value(form, "From"));
    c->url = std::string(net::form_value(form, "Url"));
    c->twiml = std::string(net::form_value(form, "Twiml"));
    c->status_callback = std::string(net::form_value(form, "StatusCallback"));
    for (const auto& [k, v] : form)
      if (k == "StatusCallbackEvent")
        for (std::size_t i = 0; i < v.size();) {  // repeated, or space-separated in one value
          const auto j = v.find(' ', i);
          const auto e = v.substr(i, j == std::string::npos ? std::string::npos : j - i);
          if (!e.empty()) c->events.push_back(e);
          if (j == std::string::npos) break;
          i = j + 1;
        }
    if (c->to.empty()) {
      record_request(req, 400);
      return twilio_error(400, 21201, "No 'To' number is specified");
    }
    if (!twilio::is_call_endpoint(c->to)) {
      record_request(req, 400);
      return twilio_error(400, 21211, "Invalid 'To' Phone Number: " + c->to);
    }
    if (c->from.empty() || !twilio::is_e164(c->from)) {
      record_request(req, 400);
      return twilio_error(400, 21212, "Invalid 'From' Phone Number: " + c->from);
    }
    if (c->url.empty() && c->twiml.empty()) {
      record_request(req, 400);
      return twilio_error(400, 21205, "Url parameter is required.");
    }
    c->sid = "CA" + random_hex(32);
    c->date_created = rfc2822_now();
    c->history.push_back(json::string("queued"));
    {
      std::lock_guard lock(mu);
      calls[c->sid] = c;
      order.push_back(c->sid);
    }
    record_request(req, 201);
    json::object answer;
    {
      std::lock_guard lock(mu);
      answer = call_json(*c);
    }
    asio::co_spawn(asio::make_strand(ioc), [self = shared_from_this(), c]() { return self->run_call(c); }, asio::detached);
    return HttpResponse::json(201, json::serialize(answer));
  }
};

TwilioEmulator::TwilioEmulator(asio::io_context& ioc, TwilioEmulatorOptions options, speech::EspeakTts& tts,
                               speech::PocketsphinxStt* stt)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), tts, stt)) {}

TwilioEmulator::~TwilioEmulator() = default;

void TwilioEmulator::hang_up_all() {
  std::lock_guard lock(impl_->mu);
  for (auto& [sid, c] : impl_->calls) c->hangup->store(true);
}

void TwilioEmulator::add_routes(net::Router& router) {
  auto impl = impl_;
  auto h = [impl](const HttpRequest& req) -> asio::awaitable<HttpResponse> { co_return co_await impl->handle(req); };
  router.add("POST", "/2010-04-01/Accounts/{AccountSid}/Calls.json", h);
  router.add("GET", "/2010-04-01/Accounts/{AccountSid}/Calls.json", h);
  for (const char* m : {"GET", "POST", "DELETE"}) router.add(m, "/2010-04-01/Accounts/{AccountSid}/Calls/{CallJson}", h);
  router.add("GET", "/emulator/calls", h);
  router.add("POST", "/emulator/inbound", h);
  router.add("GET", "/emulator/requests", h);
  router.add("DELETE", "/emulator/requests", h);
}

}  // namespace vox::sim
