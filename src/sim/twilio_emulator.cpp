// The Twilio emulator: its Calls REST API, signed webhooks and status callbacks, the call
// flow (ring, answer, complete), the admin endpoints, and its routes.
#include "sim/twilio_emulator_impl.hpp"
#include "core/json_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <deque>
#include <optional>
#include <ctime>
#include <map>
#include <mutex>

#include "core/spawn.hpp"
#include "core/time.hpp"
#include "core/base64.hpp"
#include "net/client.hpp"
#include "audio/g711.hpp"
#include "audio/mp3.hpp"
#include "audio/resampler.hpp"
#include "audio/wav.hpp"
#include "sim/caller.hpp"
#include "sim/sid.hpp"
#include "sim/stream_leg.hpp"
#include "sim/twiml_reader.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/sphinx_stt.hpp"
#include "twilio/rest_client.hpp"
#include "twilio/signature.hpp"
#include "twilio/twiml.hpp"

namespace vox::sim::twemu {



std::string rfc2822_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

HttpResponse error_answer(int status, int code, const std::string& message) {
  return HttpResponse::json(status, vox::json_text(json::object{
                                        {"code", code},
                                        {"message", message},
                                        {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
                                        {"status", status}}));
}

std::optional<std::vector<std::uint8_t>> decode_play_audio(const std::string& body, std::string_view content_type) {
  const std::span bytes(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  auto to_ulaw = [](std::vector<std::int16_t> pcm, int rate) {
    if (rate != 8000) pcm = audio::resample(pcm, rate, 8000);
    std::vector<std::uint8_t> out(pcm.size());
    audio::ulaw_encode(pcm, out);
    return out;
  };
  if (body.size() >= 4 && body.compare(0, 4, "RIFF") == 0) {
    auto wav = audio::parse_wav(bytes);
    if (!wav || wav->sample_rate <= 0) return std::nullopt;
    return to_ulaw(std::move(wav->samples), wav->sample_rate);
  }
  if (content_type.find("mulaw") != std::string_view::npos || content_type.find("audio/basic") != std::string_view::npos)
    return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
  if (content_type.find("mpeg") != std::string_view::npos || content_type.find("mp3") != std::string_view::npos) {
    int rate = 0;
    auto pcm = audio::decode_mp3(bytes, rate);
    if (pcm.empty() || rate <= 0) return std::nullopt;
    return to_ulaw(std::move(pcm), rate);
  }
  return std::nullopt;
}

}  // namespace vox::sim::twemu

namespace vox::sim {
using namespace twemu;

json::object TwilioEmulator::Impl::call_json(const CallRecord& c) const {
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

void TwilioEmulator::Impl::record_request(const HttpRequest& req, int status) {
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

bool TwilioEmulator::Impl::authorized(const HttpRequest& req, std::string_view account) const {
  if (account != opt.account_sid) return false;
  const std::string creds = opt.account_sid + ":" + opt.auth_token;
  std::string b64;
  base64::append(b64, std::span(reinterpret_cast<const std::uint8_t*>(creds.data()), creds.size()));
  return req.header("Authorization") == "Basic " + b64;
}

void TwilioEmulator::Impl::set_status(CallRecord& c, const std::string& s) {
  c.status = s;
  c.history.push_back(json::string(s));
}

asio::awaitable<net::HttpResponse> TwilioEmulator::Impl::twilio_request(std::string url, std::string method, twilio::FormParams params,
                                                  std::chrono::milliseconds timeout) {
  std::string form;
  for (const auto& [k, v] : params) form += (form.empty() ? "" : "&") + k + "=" + twilio::form_encode(v);
  net::Headers h;
  if (method == "GET") {
    url += (url.find('?') == std::string::npos ? "?" : "&") + form;
    h.emplace_back("X-Twilio-Signature", twilio::compute_signature(opt.auth_token, url, {}));
    co_return co_await net::http_request("GET", url, std::move(h), "", timeout);
  }
  h.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  h.emplace_back("X-Twilio-Signature", twilio::compute_signature(opt.auth_token, url, params));
  co_return co_await net::http_request("POST", url, std::move(h), std::move(form), timeout);
}

asio::awaitable<void> TwilioEmulator::Impl::callback(std::shared_ptr<CallRecord> c, std::string call_status, std::string event) {
  std::string url;
  twilio::FormParams p;
  {
    std::lock_guard lock(mu);
    if (c->status_callback.empty()) co_return;
    const bool wanted = (c->events.empty() && event == "completed") ||
                        std::find(c->events.begin(), c->events.end(), event) != c->events.end();
    if (!wanted) co_return;
    url = c->status_callback;
    p = {{"AccountSid", opt.account_sid}, {"ApiVersion", "2010-04-01"}, {"CallSid", c->sid},
                            {"CallStatus", call_status}, {"Direction", "outbound-api"}, {"From", c->from},
                            {"To", c->to}, {"Timestamp", rfc2822_now()}, {"CallbackSource", "call-progress-events"},
                            {"SequenceNumber", std::to_string(c->callback_seq++)}};
    if (call_status == "completed") {
      p.emplace_back("CallDuration", std::to_string(c->duration_s));
      p.emplace_back("Duration", std::to_string((c->duration_s + 59) / 60));
    }
  }
  int status = 0;
  std::string err;
  try {
    auto res = co_await twilio_request(url, "POST", std::move(p), std::chrono::seconds(5));
    status = res.status;
  } catch (const std::exception& e) {
    err = e.what();
  }
  std::lock_guard lock(mu);
  c->callbacks.push_back(json::object{{"event", event}, {"call_status", call_status}, {"url", url},
                                      {"response_status", status}, {"error", err}});
}

asio::awaitable<void> TwilioEmulator::Impl::sleep_ms(int ms) {
  auto exec = co_await asio::this_coro::executor;
  asio::steady_timer t(exec, std::chrono::milliseconds(ms));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void TwilioEmulator::Impl::note_verb(CallRecord& c, const std::string& verb, const std::string& detail) {
  std::lock_guard lock(mu);
  c.verbs.push_back(json::object{{"verb", verb}, {"detail", detail}});
}

twilio::FormParams TwilioEmulator::Impl::call_params(const CallRecord& c, const std::string& call_status) const {
  return {{"AccountSid", opt.account_sid}, {"ApiVersion", "2010-04-01"}, {"CallSid", c.sid},
          {"CallStatus", call_status}, {"Direction", c.inbound ? "inbound" : "outbound-api"},
          {"From", c.from}, {"To", c.to}};
}

asio::awaitable<std::string> TwilioEmulator::Impl::fetch_twiml(std::shared_ptr<CallRecord> c, std::string url, std::string method,
                                         std::string call_status, std::string& error) {
  // Unlike Twilio, an app that refuses the connection is tried again for up to 10 s: on a
  // developer's machine it is often a server started a moment ago in the same script.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto p = call_params(*c, call_status);
    bool refused = false;
    try {
      auto res = co_await twilio_request(url, method, std::move(p), std::chrono::seconds(10));
      if (res.status == 200) {
        error.clear();  // (an earlier attempt's refusal is not the outcome)
        co_return res.body;
      }
      error = "TwiML URL " + url + " answered " + std::to_string(res.status) + " (Twilio error 11200)";
    } catch (const std::exception& e) {
      error = "TwiML URL " + url + " unreachable (Twilio error 11200): " + e.what();
      refused = std::string_view(e.what()).find("refused") != std::string_view::npos;
    }
    if (!refused || std::chrono::steady_clock::now() >= deadline) break;
    co_await sleep_ms(200);
  }
  co_return std::string();
}

void TwilioEmulator::Impl::complete(CallRecord& c, const std::string& error) {
  std::lock_guard lock(mu);
  if (c.status != "canceled" && c.status != "failed") set_status(c, "completed");
  c.end_time = rfc2822_now();
  c.duration_s = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - c.answered_at).count());
  c.error = error;
  if (!error.empty()) {
    // Twilio's own warning codes, as its debugger would show them.
    const char* code = error.find("handshake") != std::string::npos ? "31920 Stream - WebSocket - Handshake Error"
                       : error.find("11200") != std::string::npos   ? "11200 HTTP retrieval failure"
                       : error.find("12100") != std::string::npos   ? "12100 Document parse failure"
                                                                    : "31921 Stream - WebSocket - Close Error";
    spdlog::warn("twilio emulator call {}: warning {}: {}", c.sid, code, error);
  }
}

asio::awaitable<void> TwilioEmulator::Impl::run_call(std::shared_ptr<CallRecord> c) {
  auto self = shared_from_this();
  if (c->inbound) {
    std::lock_guard lock(mu);
    set_status(*c, "in-progress");
    c->start_time = rfc2822_now();
    c->answered_at = std::chrono::steady_clock::now();
  } else {
    if (!co_await ring(c)) co_return;
    co_await sleep_ms(opt.ring_ms);
    if (!co_await answer(c)) co_return;
  }
  std::string error;
  std::string twiml = c->twiml;
  std::string fetch_status = c->inbound ? "ringing" : "in-progress";
  if (twiml.empty()) twiml = co_await fetch_twiml(c, c->url, c->method, std::move(fetch_status), error);
  {
    std::lock_guard lock(mu);
    c->fetched_twiml = twiml;
  }
  auto side = std::make_shared<Side>();
  side->call = c;
  if (error.empty()) co_await run_twiml(side, twiml, error);
  complete(*c, error);
  transcribe(c, std::move(side->heard));
  co_await callback(c, "completed", "completed");
}

asio::awaitable<bool> TwilioEmulator::Impl::ring(std::shared_ptr<CallRecord> c) {
  co_await callback(c, "initiated", "initiated");
  {
    std::lock_guard lock(mu);
    if (c->status == "canceled") co_return false;
    set_status(*c, "ringing");
  }
  co_await callback(c, "ringing", "ringing");
  co_return true;
}

asio::awaitable<bool> TwilioEmulator::Impl::answer(std::shared_ptr<CallRecord> c) {
  {
    std::lock_guard lock(mu);
    if (c->status == "canceled") co_return false;
    set_status(*c, "in-progress");
    c->start_time = rfc2822_now();
    c->answered_at = std::chrono::steady_clock::now();
  }
  co_await callback(c, "in-progress", "answered");
  co_return true;
}

std::string TwilioEmulator::Impl::ring_inbound(const std::string& voice_url, const std::string& from, const std::string& to) {
  auto c = std::make_shared<CallRecord>();
  c->sid = random_sid("CA");
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
  vox::spawn(asio::make_strand(ioc), [self = shared_from_this(), c]() { return self->run_call(c); }, "Twilio emulator");
  return c->sid;
}

void TwilioEmulator::Impl::transcribe(std::shared_ptr<CallRecord> c, std::vector<HeardSegment> heard) {
  std::size_t first = 0;
  {
    std::lock_guard lock(mu);
    first = c->heard.size();
    for (std::size_t i = 0; i < heard.size(); ++i)
      c->heard.push_back(json::object{{"audio_ms", heard[i].ulaw.size() / 8}, {"cleared", heard[i].cleared},
                                      {"transcript", stt ? json::value(nullptr) : json::value("")}});
  }
  if (!stt) return;
  for (std::size_t i = 0; i < heard.size(); ++i) {
    auto self = shared_from_this();
    stt->transcribe(speech::SttRequest{std::move(heard[i].ulaw), {}}, [self, c, i, first](speech::SttResult r) {
      std::lock_guard lock(self->mu);
      c->heard[first + i].as_object()["transcript"] = speech::PocketsphinxStt::normalize(r.text);
    });
  }
}

asio::awaitable<HttpResponse> TwilioEmulator::Impl::handle(const HttpRequest& req) {
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
      o["verbs"] = c.verbs;
      o["streams"] = c.streams;
      o["digits_played"] = c.digits_played;
      o["digits_heard"] = c.digits_heard;
      o["peer_sid"] = c.peer_sid;
      arr.push_back(o);
    }
    co_return HttpResponse::json(200, vox::json_text(arr));
  }
  if (req.path == "/emulator/numbers") {
    // {"number": "+1…", "voice_url": "https://…/twilio-voice"}: calls to the number ring that app.
    if (req.method == "POST") {
      boost::system::error_code ec;
      auto v = json::parse(req.body, ec);
      const auto* o = ec ? nullptr : v.if_object();
      const auto* number = o ? o->if_contains("number") : nullptr;
      const auto* url = o ? o->if_contains("voice_url") : nullptr;
      if (!number || !number->is_string() || !url || !url->is_string() || !twilio::is_e164(number->as_string()))
        co_return HttpResponse::error(400, "body must be {\"number\": \"+E.164\", \"voice_url\": \"http…\"}");
      std::lock_guard lock(mu);
      opt.numbers[std::string(number->as_string())] = std::string(url->as_string());
    }
    std::lock_guard lock(mu);
    json::array arr;
    for (const auto& [n, u] : opt.numbers) arr.push_back(json::object{{"number", n}, {"voice_url", u}});
    co_return HttpResponse::json(req.method == "POST" ? 201 : 200, vox::json_text(arr));
  }
  if (req.path == "/emulator/inbound") {
    // {"url": "https://…/twilio-voice", "from": "+1…", "to": "+1…"}; without "url" the
    // registered number "to" is rung.
    boost::system::error_code ec;
    auto v = json::parse(req.body, ec);
    if (ec || !v.is_object())
      co_return HttpResponse::error(400, "body must be {\"url\": ..., \"from\": ..., \"to\": ...}");
    const auto& o = v.as_object();
    auto get = [&](const char* k, const char* d) {
      const auto* x = o.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : std::string(d);
    };
    std::string url = get("url", "");
    const auto to = get("to", "+15550002222");
    if (url.empty()) {
      std::lock_guard lock(mu);
      if (auto it = opt.numbers.find(to); it != opt.numbers.end()) url = it->second;
    }
    if (url.empty()) co_return HttpResponse::error(400, "give \"url\", or a \"to\" registered at /emulator/numbers");
    const auto sid = ring_inbound(url, get("from", "+15550001111"), to);
    co_return HttpResponse::json(201, vox::json_text(json::object{{"sid", sid}}));
  }
  if (req.path == "/emulator/requests") {
    std::lock_guard lock(mu);
    if (req.method == "DELETE") requests.clear();
    co_return HttpResponse::json(200, vox::json_text(requests));
  }
  const std::string account(req.param("AccountSid"));
  if (!authorized(req, account)) {
    record_request(req, 401);
    co_return error_answer(401, 20003, "Authenticate");
  }
  std::string sid(req.param("CallJson"));
  if (!sid.empty()) {
    if (sid.size() < 6 || sid.substr(sid.size() - 5) != ".json") {
      record_request(req, 404);
      co_return error_answer(404, 20404, "The requested resource was not found");
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
    co_return HttpResponse::json(200, vox::json_text(json::object{
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
    co_return error_answer(404, 20404, "The requested resource /2010-04-01/Accounts/" + account + "/Calls/" + sid +
                                           ".json was not found");
  }
  if (req.method == "GET") {
    record_request(req, 200);
    std::lock_guard lock(mu);
    co_return HttpResponse::json(200, vox::json_text(call_json(*c)));
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
  const std::string new_url(net::form_value(form, "Url"));
  std::optional<HttpResponse> refused;
  json::object answer;
  {
    std::lock_guard lock(mu);
    if (status == "completed" || status == "canceled") {
      if (c->status == "queued" || c->status == "ringing") {
        set_status(*c, "canceled");
      } else if (c->status == "in-progress") {
        c->completing = true;  // the running verb ends; run_call completes the call
        c->hangup->store(true);
      } else if (status == "completed") {
        refused = error_answer(400, 21220, "Call is not in-progress. Cannot redirect.");
      }
    } else if (!status.empty()) {
      refused = error_answer(400, 21218, "Invalid status " + status);
    } else if (!new_twiml.empty() || !new_url.empty()) {
      if (c->status != "in-progress") {
        refused = error_answer(400, 21220, "Call is not in-progress. Cannot redirect.");
      } else {
        // Ends the running verb (a stream is closed); the call then runs the new TwiML.
        if (!new_twiml.empty()) c->redirect_twiml = c->pending_twiml = new_twiml;
        else c->pending_url = new_url;
        c->hangup->store(true);
      }
    }
    answer = call_json(*c);
  }
  record_request(req, refused ? refused->status : 200);
  if (refused) co_return std::move(*refused);
  co_return HttpResponse::json(200, vox::json_text(answer));
}

HttpResponse TwilioEmulator::Impl::create(const HttpRequest& req) {
  if (req.header("Content-Type").find("application/x-www-form-urlencoded") == std::string_view::npos) {
    record_request(req, 400);
    return error_answer(400, 20001, "Content-Type must be application/x-www-form-urlencoded");
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
    return error_answer(400, 21201, "No 'To' number is specified");
  }
  if (!twilio::is_call_endpoint(c->to)) {
    record_request(req, 400);
    return error_answer(400, 21211, "Invalid 'To' Phone Number: " + c->to);
  }
  if (c->from.empty() || !twilio::is_e164(c->from)) {
    record_request(req, 400);
    return error_answer(400, 21212, "Invalid 'From' Phone Number: " + c->from);
  }
  if (c->url.empty() && c->twiml.empty()) {
    record_request(req, 400);
    return error_answer(400, 21205, "Url parameter is required.");
  }
  if (const auto m = net::form_value(form, "Method"); m == "GET") c->method = "GET";
  c->sid = random_sid("CA");
  c->date_created = rfc2822_now();
  c->history.push_back(json::string("queued"));
  std::shared_ptr<Bridge> bridge;
  {
    std::lock_guard lock(mu);
    calls[c->sid] = c;
    order.push_back(c->sid);
    if (auto it = opt.numbers.find(c->to); it != opt.numbers.end()) {
      // A number of this phone network: its app answers, and the two legs are bridged.
      auto callee = std::make_shared<CallRecord>();
      callee->sid = random_sid("CA");
      callee->to = c->to;
      callee->from = c->from;
      callee->url = it->second;
      callee->inbound = true;
      callee->date_created = c->date_created;
      callee->history.push_back(json::string("ringing"));
      callee->peer_sid = c->sid;
      c->peer_sid = callee->sid;
      calls[callee->sid] = callee;
      order.push_back(callee->sid);
      bridge = std::make_shared<Bridge>(asio::make_strand(ioc));
      for (int i = 0; i < 2; ++i) {
        bridge->side[i] = std::make_shared<Side>();
        bridge->side[i]->call = i == 0 ? c : callee;
        bridge->side[i]->bridged = true;
      }
    }
  }
  record_request(req, 201);
  json::object answer;
  {
    std::lock_guard lock(mu);
    answer = call_json(*c);
  }
  if (bridge)
    vox::spawn(bridge->strand, [self = shared_from_this(), bridge]() { return self->run_bridged(bridge); }, "Twilio emulator");
  else
    vox::spawn(asio::make_strand(ioc), [self = shared_from_this(), c]() { return self->run_call(c); }, "Twilio emulator");
  return HttpResponse::json(201, vox::json_text(answer));
}

TwilioEmulator::TwilioEmulator(asio::io_context& ioc, TwilioEmulatorOptions options, speech::EspeakTts& tts,
                               speech::PocketsphinxStt* stt)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), tts, stt)) {}

TwilioEmulator::~TwilioEmulator() = default;

void TwilioEmulator::hang_up_all() {
  std::lock_guard lock(impl_->mu);
  for (auto& [sid, c] : impl_->calls) {
    c->completing = true;
    c->hangup->store(true);
  }
}

void TwilioEmulator::add_routes(net::Router& router) {
  auto impl = impl_;
  auto h = [impl](const HttpRequest& req) -> asio::awaitable<HttpResponse> { co_return co_await impl->handle(req); };
  router.add("POST", "/2010-04-01/Accounts/{AccountSid}/Calls.json", h);
  router.add("GET", "/2010-04-01/Accounts/{AccountSid}/Calls.json", h);
  for (const char* m : {"GET", "POST", "DELETE"}) router.add(m, "/2010-04-01/Accounts/{AccountSid}/Calls/{CallJson}", h);
  router.add("GET", "/emulator/calls", h);
  router.add("POST", "/emulator/inbound", h);
  router.add("GET", "/emulator/numbers", h);
  router.add("POST", "/emulator/numbers", h);
  router.add("GET", "/emulator/requests", h);
  router.add("DELETE", "/emulator/requests", h);
}


}  // namespace vox::sim
