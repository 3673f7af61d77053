#include "sim/twilio_emulator.hpp"

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

namespace vox::sim {
namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;

namespace {


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
  json::array verbs;           // each TwiML verb run: {"verb", "detail"}
  json::array streams;         // each media stream: sid, url, kind, its callbacks and counters
  std::string fetched_twiml;
  std::string redirect_twiml;  // the last live update with Twiml
  std::string pending_twiml;   // a live update not yet run
  std::string pending_url;
  std::string dialed;          // the target of a <Dial> we ran
  std::string digits_played;   // <Play digits> of this call's TwiML
  std::string digits_heard;    // keys the far end pressed (bridged calls)
  std::string peer_sid;        // the other leg of a bridged call
  bool inbound = false;
  bool completing = false;     // hang up: REST Status=completed, the far end hung up, shutdown
  std::string error;
  int callback_seq = 0;
  std::size_t lines_done = 0;  // callee script lines used by earlier streams
  int streams_run = 0;
  // Interrupts the running verb (a live update or a hang-up); shared with the callee.
  std::shared_ptr<std::atomic<bool>> hangup = std::make_shared<std::atomic<bool>>(false);
  std::chrono::steady_clock::time_point answered_at;
};

// One call's side of the line, touched only on the call's strand.
struct Side {
  std::shared_ptr<CallRecord> call;
  bool bridged = false;
  std::deque<std::uint8_t> say;                   // <Say>/<Play> audio going out on the line (bridged)
  std::shared_ptr<StreamLeg> stream;              // the running <Connect><Stream>
  std::vector<std::pair<std::shared_ptr<StreamLeg>, std::size_t>> forks;  // <Start><Stream>s, index in call.streams
  std::string dtmf_out;                           // digits on their way to the far end
  std::vector<HeardSegment> heard;                // what this side's party heard
  HeardSegment segment;                           // (bridged) the segment being heard
  int quiet_frames = 0;
  bool in_segment = false;
  bool finished = false;
};

// Two legs joined by the emulator: what one side's app plays is the other's inbound audio.
struct Bridge {
  explicit Bridge(asio::any_io_executor ex) : strand(std::move(ex)) {}
  asio::any_io_executor strand;
  std::shared_ptr<Side> side[2];
  bool ticker_done = false;
};


// Decodes the audio of a <Play> URL to μ-law 8 kHz: WAV (PCM16 or μ-law), raw μ-law, MP3.
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

  // Sends `params` to an app's `url` as Twilio does: a form-encoded POST signed over the
  // URL and the parameters, or a GET with them in the query, signed over the full URL.
  asio::awaitable<net::HttpResponse> twilio_request(std::string url, std::string method, twilio::FormParams params,
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

  // A status callback, signed like Twilio's, for `event` (also the CallStatus).
  asio::awaitable<void> callback(std::shared_ptr<CallRecord> c, std::string call_status, std::string event) {
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

  asio::awaitable<void> sleep_ms(int ms) {
    auto exec = co_await asio::this_coro::executor;
    asio::steady_timer t(exec, std::chrono::milliseconds(ms));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  static bool interrupted(const CallRecord& c) { return c.hangup->load(); }

  void note_verb(CallRecord& c, const std::string& verb, const std::string& detail) {
    std::lock_guard lock(mu);
    c.verbs.push_back(json::object{{"verb", verb}, {"detail", detail}});
  }

  twilio::FormParams call_params(const CallRecord& c, const std::string& call_status) const {
    return {{"AccountSid", opt.account_sid}, {"ApiVersion", "2010-04-01"}, {"CallSid", c.sid},
            {"CallStatus", call_status}, {"Direction", c.inbound ? "inbound" : "outbound-api"},
            {"From", c.from}, {"To", c.to}};
  }

  // Requests TwiML from `url` (signed, with the call's parameters, as Twilio does);
  // returns "" and sets `error` on failure (Twilio error 11200).
  asio::awaitable<std::string> fetch_twiml(std::shared_ptr<CallRecord> c, std::string url, std::string method,
                                           std::string call_status, std::string& error) {
    auto p = call_params(*c, call_status);
    try {
      auto res = co_await twilio_request(url, method, std::move(p), std::chrono::seconds(10));
      if (res.status == 200) co_return res.body;
      error = "TwiML URL " + url + " answered " + std::to_string(res.status) + " (Twilio error 11200)";
    } catch (const std::exception& e) {
      error = "TwiML URL " + url + " unreachable (Twilio error 11200): " + e.what();
    }
    co_return std::string();
  }

  // A <Stream statusCallback> event (stream-started, stream-stopped, stream-error), signed.
  asio::awaitable<void> stream_callback(std::shared_ptr<CallRecord> c, std::size_t index, std::string event,
                                        std::string stream_error) {
    std::string url, method, sid, name;
    {
      std::lock_guard lock(mu);
      const auto& s = c->streams.at(index).as_object();
      url = std::string(s.at("status_callback").as_string());
      method = std::string(s.at("status_callback_method").as_string());
      sid = std::string(s.at("sid").as_string());
      name = std::string(s.at("name").as_string());
    }
    if (url.empty()) co_return;
    twilio::FormParams p = {{"AccountSid", opt.account_sid}, {"CallSid", c->sid}, {"StreamSid", sid},
                            {"StreamName", name.empty() ? sid : name}, {"StreamEvent", event},
                            {"Timestamp", iso8601_now()}};
    if (!stream_error.empty()) p.emplace_back("StreamError", stream_error);
    int status = 0;
    std::string err;
    try {
      status = (co_await twilio_request(url, method, std::move(p), std::chrono::seconds(5))).status;
    } catch (const std::exception& e) {
      err = e.what();
    }
    std::lock_guard lock(mu);
    c->streams.at(index).as_object()["callbacks"].as_array().push_back(
        json::object{{"event", event}, {"response_status", status}, {"error", err}});
  }

  // Adds a stream to the call's record; returns its index.
  std::size_t add_stream(CallRecord& c, const TwimlNode& stream, const std::string& kind, const std::string& sid) {
    std::lock_guard lock(mu);
    json::object params;
    for (const auto& p : stream.children)
      if (p.name == "Parameter") params[p.attr("name")] = p.attr("value");
    c.streams.push_back(json::object{{"sid", sid}, {"kind", kind}, {"url", stream.attr("url")},
                                     {"name", stream.attr("name")}, {"track", stream.attr("track", "inbound_track")},
                                     {"parameters", params}, {"status_callback", stream.attr("statusCallback")},
                                     {"status_callback_method", stream.attr("statusCallbackMethod", "POST")},
                                     {"callbacks", json::array{}}, {"error", ""}});
    ++c.streams_run;
    return c.streams.size() - 1;
  }

  void record_stream_end(CallRecord& c, std::size_t index, const StreamLegStats& st, const std::string& error) {
    std::lock_guard lock(mu);
    auto& o = c.streams.at(index).as_object();
    o["frames_sent"] = st.frames_sent;
    o["bytes_received"] = st.bytes_received;
    o["marks_received"] = st.marks_received;
    o["marks_echoed"] = st.marks_echoed;
    o["clears"] = st.clears;
    o["dtmf_sent"] = st.dtmf_sent;
    o["protocol_errors"] = st.protocol_errors;
    o["close_code"] = st.close_code;
    if (!error.empty()) o["error"] = error;
  }

  StreamLegOptions leg_options(const CallRecord& c, const TwimlNode& stream, bool bidirectional) const {
    StreamLegOptions lo;
    lo.url = stream.attr("url");
    lo.name = stream.attr("name");
    lo.auth_token = opt.auth_token;
    lo.account_sid = opt.account_sid;
    lo.call_sid = c.sid;
    lo.bidirectional = bidirectional;
    lo.track = stream.attr("track", "inbound_track");
    for (const auto& p : stream.children)
      if (p.name == "Parameter") lo.parameters[p.attr("name")] = p.attr("value");
    return lo;
  }

  // Opens a stream to an app and records it in the call; on a failed handshake (Twilio
  // warning 31920) records that, sends `stream-error`, sets `err` and returns null.
  asio::awaitable<std::shared_ptr<StreamLeg>> open_leg(std::shared_ptr<CallRecord> c, const TwimlNode& stream,
                                                       bool bidirectional, std::size_t& index, std::string& err) {
    auto lo = leg_options(*c, stream, bidirectional);
    std::shared_ptr<StreamLeg> leg;
    try {
      leg = co_await StreamLeg::open(lo);
    } catch (const std::exception& e) {
      err = e.what();
    }
    index = add_stream(*c, stream, bidirectional ? "connect" : "start", leg ? leg->stream_sid() : "");
    if (!leg) {
      spdlog::warn("twilio emulator call {}: warning 31920 Stream - WebSocket - Handshake Error: {}", c->sid, err);
      record_stream_end(*c, index, {}, err);
      co_await stream_callback(c, index, "stream-error", err);
    }
    co_return leg;
  }

  // <Start><Stream>: a fork of the line to the app; returns when it is open (or failed).
  asio::awaitable<void> start_fork(std::shared_ptr<Side> side, const TwimlNode& stream) {
    auto c = side->call;
    std::size_t index = 0;
    std::string err;
    auto leg = co_await open_leg(c, stream, false, index, err);
    if (!leg) co_return;
    side->forks.emplace_back(leg, index);
    co_await stream_callback(c, index, "stream-started", "");
  }

  asio::awaitable<void> stop_fork(std::shared_ptr<Side> side, std::size_t at) {
    auto [leg, index] = side->forks.at(at);
    side->forks.erase(side->forks.begin() + static_cast<std::ptrdiff_t>(at));
    leg->stop();
    record_stream_end(*side->call, index, leg->stats(), "");
    co_await stream_callback(side->call, index, "stream-stopped", "");
  }

  // Feeds the forks of an unbridged call: what the callee said and what it heard.
  static void feed_forks(Side& side, std::span<const std::uint8_t, 160> said, std::span<const std::uint8_t, 160> heard) {
    for (auto& [leg, index] : side.forks) leg->send_frame(said, heard);
  }

  // Plays `ulaw` to the far end in real time (a <Say>, <Play> or <Pause>); it is heard
  // as one segment when `heard` is set. Stops early when the call is interrupted.
  asio::awaitable<void> play_audio(std::shared_ptr<Side> side, std::vector<std::uint8_t> ulaw, bool heard) {
    auto& c = *side->call;
    if (side->bridged) {
      side->say.insert(side->say.end(), ulaw.begin(), ulaw.end());
      while (!side->say.empty() && !interrupted(c)) co_await sleep_ms(20);
      side->say.clear();
      co_return;
    }
    auto exec = co_await asio::this_coro::executor;
    asio::steady_timer timer(exec);
    auto next = std::chrono::steady_clock::now();
    HeardSegment seg;
    std::array<std::uint8_t, 160> silence, frame;
    silence.fill(audio::kUlawSilence);
    for (std::size_t at = 0; at < ulaw.size() && !interrupted(c); at += 160) {
      frame.fill(audio::kUlawSilence);
      const auto n = std::min<std::size_t>(160, ulaw.size() - at);
      std::copy_n(ulaw.begin() + static_cast<std::ptrdiff_t>(at), n, frame.begin());
      feed_forks(*side, silence, frame);
      if (heard) seg.ulaw.insert(seg.ulaw.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
      next += std::chrono::milliseconds(20);
      timer.expires_at(next);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (heard && !seg.ulaw.empty()) side->heard.push_back(std::move(seg));
  }

  // <Connect><Stream>: the bidirectional media stream; blocks until it ends.
  asio::awaitable<void> connect_stream(std::shared_ptr<Side> side, const TwimlNode& stream, std::string& error) {
    auto c = side->call;
    if (!side->bridged) {
      // The scripted callee speaks Twilio's side of the stream itself.
      CallerOptions co;
      twilio::StreamTwiml st;
      st.url = stream.attr("url");
      for (const auto& p : stream.children)
        if (p.name == "Parameter") st.parameters.emplace_back(p.attr("name"), p.attr("value"));
      co.twiml = twilio::connect_stream(st);
      co.call_sid = c->sid;
      co.account_sid = opt.account_sid;
      co.from = c->from;
      co.to = c->to;
      std::size_t index = 0;
      {
        std::lock_guard lock(mu);
        const auto done = std::min(c->lines_done, opt.callee_lines.size());
        co.lines.assign(opt.callee_lines.begin() + static_cast<std::ptrdiff_t>(done), opt.callee_lines.end());
        // A stream resumed after a redirect greets nobody: the callee goes on sooner.
        if (c->streams_run > 0) co.greeting_wait_ms = 1500;
      }
      index = add_stream(*c, stream, "connect", "");
      co.voice = opt.voice;
      co.auth_token = opt.auth_token;
      co.hangup = c->hangup;
      co.hang_up = true;
      co.tap = [side](std::span<const std::uint8_t, 160> said, std::span<const std::uint8_t, 160> heard) {
        feed_forks(*side, said, heard);
      };
      auto self = shared_from_this();
      co.on_started = [self, c, index](const std::string& stream_sid) {
        {
          std::lock_guard lock(self->mu);
          c->streams.at(index).as_object()["sid"] = stream_sid;
        }
        vox::spawn(self->ioc, self->stream_callback(c, index, "stream-started", ""), "Twilio emulator");
      };
      auto result = co_await run_caller(co, CallerEngines{tts});
      {
        std::lock_guard lock(mu);
        c->lines_done += result.lines_started;
        auto& o = c->streams.at(index).as_object();
        o["marks_received"] = result.marks_received;
        o["marks_echoed"] = result.marks_echoed;
        o["clears"] = result.clears;
        o["bytes_received"] = result.media_bytes_received;
        if (!result.ok) o["error"] = result.error;
      }
      for (auto& h : result.heard) side->heard.push_back(std::move(h));
      const bool failed = !result.ok && !interrupted(*c);
      if (failed) error = result.error;
      // (Named, not ?: temporaries: GCC 12 frees those twice in a coroutine call.)
      std::string event = "stream-stopped", why;
      if (failed) {
        event = "stream-error";
        why = result.error;
      }
      co_await stream_callback(c, index, std::move(event), std::move(why));
      co_return;
    }
    std::size_t index = 0;
    std::string err;
    auto leg = co_await open_leg(c, stream, true, index, err);
    if (!leg) {
      error = "media stream handshake failed: " + err;
      co_return;
    }
    side->stream = leg;
    co_await stream_callback(c, index, "stream-started", "");
    while (!leg->closed() && !interrupted(*c)) co_await sleep_ms(20);
    leg->stop();
    side->stream.reset();
    record_stream_end(*c, index, leg->stats(), "");
    co_await stream_callback(c, index, "stream-stopped", "");
  }

  // Runs TwiML documents until the call ends: `doc`, then whatever <Redirect>, a
  // <Connect action> or a live update leads to.
  asio::awaitable<void> run_twiml(std::shared_ptr<Side> side, std::string doc, std::string& error) {
    auto c = side->call;
    for (int documents = 0; !doc.empty() && documents < 50; ++documents) {
      const auto parsed = parse_twiml(doc);
      doc.clear();
      if (!parsed.root) {
        error = "12100 Document parse failure: " + parsed.error;
        break;
      }
      bool end = false;
      for (const auto& verb : parsed.root->children) {
        if (interrupted(*c)) break;
        const std::string& name = verb.name;
        if (name == "Say") {
          note_verb(*c, name, verb.text);
          auto ulaw = tts.synthesize_blocking(verb.text, opt.voice);
          const int loops = std::max(1, std::atoi(verb.attr("loop", "1").c_str()));
          for (int i = 0; i < loops && !interrupted(*c); ++i) co_await play_audio(side, ulaw, true);
        } else if (name == "Play" && !verb.attr("digits").empty()) {
          const auto digits = verb.attr("digits");
          note_verb(*c, name, "digits=" + digits);
          {
            std::lock_guard lock(mu);
            c->digits_played += digits;
          }
          if (side->bridged) {
            for (char d : digits)
              if (d != 'w' && d != 'W') side->dtmf_out += d;
            while (!side->dtmf_out.empty() && !interrupted(*c)) co_await sleep_ms(20);
          } else {
            // The callee hears the tones: ~100 ms each, 500 ms per 'w'.
            std::size_t ms = 0;
            for (char d : digits) ms += (d == 'w' || d == 'W') ? 500 : 100;
            co_await play_audio(side, std::vector<std::uint8_t>(ms * 8, audio::kUlawSilence), false);
          }
        } else if (name == "Play") {
          note_verb(*c, name, verb.text);
          std::optional<std::vector<std::uint8_t>> ulaw;
          std::string why;
          try {
            auto res = co_await net::http_request("GET", verb.text, {}, "", std::chrono::seconds(10));
            if (res.status != 200) why = "answered " + std::to_string(res.status);
            else if (!(ulaw = decode_play_audio(res.body, res.content_type))) why = "is not WAV, μ-law or MP3 audio";
          } catch (const std::exception& e) {
            why = e.what();
          }
          if (!ulaw) {
            spdlog::warn("twilio emulator call {}: warning 13227 <Play> {}: {}", c->sid, verb.text, why);
            continue;
          }
          const int loops = std::max(1, std::atoi(verb.attr("loop", "1").c_str()));
          for (int i = 0; i < loops && !interrupted(*c); ++i) co_await play_audio(side, *ulaw, true);
        } else if (name == "Pause") {
          const int seconds = std::max(0, std::atoi(verb.attr("length", "1").c_str()));
          note_verb(*c, name, std::to_string(seconds));
          co_await play_audio(side, std::vector<std::uint8_t>(static_cast<std::size_t>(seconds) * 8000, audio::kUlawSilence),
                              false);
        } else if (name == "Hangup" || name == "Reject") {
          note_verb(*c, name, "");
          end = true;
          break;
        } else if (name == "Redirect") {
          note_verb(*c, name, verb.text);
          doc = co_await fetch_twiml(c, verb.text, verb.attr("method", "POST"), "in-progress", error);
          break;
        } else if (name == "Dial") {
          // The dialed party is assumed to answer and hang up; our part of the call ends.
          std::string target = verb.text;
          for (const auto& ch : verb.children)
            if (ch.name == "Number" || ch.name == "Sip" || ch.name == "Client") target = ch.text;
          note_verb(*c, name, target);
          {
            std::lock_guard lock(mu);
            c->dialed = target.empty() ? "?" : target;
          }
          end = true;
          break;
        } else if (name == "Connect") {
          const auto* stream = verb.child("Stream");
          if (!stream) {
            note_verb(*c, name, "");
            spdlog::warn("twilio emulator call {}: <Connect> without <Stream> is not emulated", c->sid);
            continue;
          }
          note_verb(*c, "Connect", stream->attr("url"));
          co_await connect_stream(side, *stream, error);
          if (!error.empty()) {
            end = true;
            break;
          }
          if (!interrupted(*c) && !verb.attr("action").empty()) {
            doc = co_await fetch_twiml(c, verb.attr("action"), verb.attr("method", "POST"), "in-progress", error);
            break;
          }
        } else if (name == "Start") {
          if (const auto* stream = verb.child("Stream")) {
            note_verb(*c, "Start", stream->attr("url"));
            co_await start_fork(side, *stream);
          }
        } else if (name == "Stop") {
          if (const auto* stream = verb.child("Stream")) {
            note_verb(*c, "Stop", stream->attr("name"));
            for (std::size_t i = 0; i < side->forks.size(); ++i)
              if (side->forks[i].first->options().name == stream->attr("name")) {
                co_await stop_fork(side, i);
                break;
              }
          }
        } else {
          note_verb(*c, name, "");
          spdlog::warn("twilio emulator call {}: warning 12200 Schema validation warning: <{}> is not emulated", c->sid,
                       name);
        }
      }
      // A live update replaces whatever was left of the document.
      std::string pending_twiml, pending_url;
      {
        std::lock_guard lock(mu);
        if (!c->completing && (!c->pending_twiml.empty() || !c->pending_url.empty())) {
          pending_twiml = std::move(c->pending_twiml);
          pending_url = std::move(c->pending_url);
          c->pending_twiml.clear();
          c->pending_url.clear();
          c->hangup->store(false);
          error.clear();  // the stream ended because it was redirected
        }
      }
      if (!pending_twiml.empty()) doc = pending_twiml;
      else if (!pending_url.empty()) doc = co_await fetch_twiml(c, pending_url, "POST", "in-progress", error);
      else if (end) break;
    }
    while (!side->forks.empty()) co_await stop_fork(side, side->forks.size() - 1);
  }

  void complete(CallRecord& c, const std::string& error) {
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

  // The life of one call with a scripted far end.
  asio::awaitable<void> run_call(std::shared_ptr<CallRecord> c) {
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

  // initiated → ringing; false when the call was canceled meanwhile.
  asio::awaitable<bool> ring(std::shared_ptr<CallRecord> c) {
    co_await callback(c, "initiated", "initiated");
    {
      std::lock_guard lock(mu);
      if (c->status == "canceled") co_return false;
      set_status(*c, "ringing");
    }
    co_await callback(c, "ringing", "ringing");
    co_return true;
  }

  asio::awaitable<bool> answer(std::shared_ptr<CallRecord> c) {
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

  // The media clock of a bridged call: every 20 ms each side's app output (its stream's
  // playout, else its <Say>/<Play> audio, else silence) becomes the other side's inbound
  // audio; pending digits are delivered one per tick.
  asio::awaitable<void> tick_bridge(std::shared_ptr<Bridge> b) {
    auto exec = co_await asio::this_coro::executor;
    asio::steady_timer timer(exec);
    auto next = std::chrono::steady_clock::now();
    std::array<std::uint8_t, 160> frame[2];
    bool sound[2];
    while (!b->side[0]->finished || !b->side[1]->finished) {
      next += std::chrono::milliseconds(20);
      timer.expires_at(next);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      for (int i = 0; i < 2; ++i) {
        auto& s = *b->side[i];
        if (s.stream && !s.stream->closed()) {
          sound[i] = s.stream->play(frame[i]);
        } else {
          const auto n = std::min<std::size_t>(160, s.say.size());
          frame[i].fill(audio::kUlawSilence);
          std::copy_n(s.say.begin(), n, frame[i].begin());
          s.say.erase(s.say.begin(), s.say.begin() + static_cast<std::ptrdiff_t>(n));
          sound[i] = n > 0;
        }
      }
      for (int i = 0; i < 2; ++i) {
        auto& s = *b->side[i];
        auto& peer = *b->side[1 - i];
        if (s.stream) s.stream->send_frame(frame[1 - i], frame[i]);
        for (auto& [leg, index] : s.forks) leg->send_frame(frame[1 - i], frame[i]);
        if (!peer.dtmf_out.empty()) {
          const char d = peer.dtmf_out.front();
          peer.dtmf_out.erase(0, 1);
          if (s.stream) s.stream->send_dtmf(d);
          std::lock_guard lock(mu);
          s.call->digits_heard += d;
        }
        // What this side hears, cut into segments at 500 ms without sound.
        if (sound[1 - i]) {
          s.in_segment = true;
          s.quiet_frames = 0;
        }
        if (s.in_segment) {
          s.segment.ulaw.insert(s.segment.ulaw.end(), frame[1 - i].begin(), frame[1 - i].end());
          if (!sound[1 - i] && ++s.quiet_frames >= 25) {
            s.segment.ulaw.resize(s.segment.ulaw.size() - 24 * 160);
            s.heard.push_back(std::move(s.segment));
            s.segment = HeardSegment{};
            s.in_segment = false;
          }
        }
      }
    }
    for (auto& s : b->side)
      if (s->in_segment && !s->segment.ulaw.empty()) s->heard.push_back(std::move(s->segment));
    b->ticker_done = true;
  }

  asio::awaitable<void> run_side(std::shared_ptr<Bridge> b, int i, std::string doc) {
    auto side = b->side[i];
    std::string error;
    co_await run_twiml(side, std::move(doc), error);
    side->finished = true;
    // One side hanging up ends the other.
    auto& peer = *b->side[1 - i];
    {
      std::lock_guard lock(mu);
      peer.call->completing = true;
    }
    peer.call->hangup->store(true);
    {
      std::lock_guard lock(mu);
      if (side->call->error.empty()) side->call->error = error;
    }
  }

  // A call placed to a number registered here: ring its app, bridge the two legs.
  asio::awaitable<void> run_bridged(std::shared_ptr<Bridge> b) {
    auto caller = b->side[0]->call;
    auto callee = b->side[1]->call;
    if (!co_await ring(caller)) co_return;
    std::string error;
    const auto callee_twiml = co_await fetch_twiml(callee, callee->url, "POST", "ringing", error);
    const bool rejected = callee_twiml.empty() || callee_twiml.find("<Reject") != std::string::npos;
    {
      std::lock_guard lock(mu);
      callee->fetched_twiml = callee_twiml;
      if (rejected) {
        set_status(*callee, "failed");
        set_status(*caller, "failed");
        caller->error = callee->error = error.empty() ? "the called app rejected the call" : error;
      } else {
        set_status(*callee, "in-progress");
        callee->start_time = rfc2822_now();
        callee->answered_at = std::chrono::steady_clock::now();
      }
    }
    if (rejected) {
      spdlog::warn("twilio emulator call {}: the called number's app did not answer: {}", caller->sid, caller->error);
      co_await callback(caller, "failed", "completed");
      co_return;
    }
    if (!co_await answer(caller)) co_return;
    std::string caller_twiml = caller->twiml;
    if (caller_twiml.empty()) caller_twiml = co_await fetch_twiml(caller, caller->url, caller->method, "in-progress", error);
    {
      std::lock_guard lock(mu);
      caller->fetched_twiml = caller_twiml;
    }
    auto self = shared_from_this();
    vox::spawn(b->strand, tick_bridge(b), "Twilio emulator");
    vox::spawn(b->strand, run_side(b, 1, callee_twiml), "Twilio emulator");
    if (!error.empty()) {
      std::lock_guard lock(mu);
      caller->error = error;
      b->side[0]->finished = true;
      callee->completing = true;
      callee->hangup->store(true);
    } else {
      co_await run_side(b, 0, caller_twiml);
    }
    while (!b->side[1]->finished) co_await sleep_ms(20);
    for (int i = 0; i < 2; ++i) {
      auto& s = *b->side[i];
      std::string err;
      {
        std::lock_guard lock(mu);
        err = s.call->error;
      }
      complete(*s.call, err);
    }
    while (!b->ticker_done) co_await sleep_ms(20);  // its last round closes the segments being heard
    for (int i = 0; i < 2; ++i) transcribe(b->side[i]->call, std::move(b->side[i]->heard));
    co_await callback(caller, "completed", "completed");
  }

  // An inbound call: the number's voice URL is posted (signed), then the call runs like
  // any other (TwiML, media, callee).
  std::string ring_inbound(const std::string& voice_url, const std::string& from, const std::string& to) {
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

  void transcribe(std::shared_ptr<CallRecord> c, std::vector<HeardSegment> heard) {
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
        o["verbs"] = c.verbs;
        o["streams"] = c.streams;
        o["digits_played"] = c.digits_played;
        o["digits_heard"] = c.digits_heard;
        o["peer_sid"] = c.peer_sid;
        arr.push_back(o);
      }
      co_return HttpResponse::json(200, json::serialize(arr));
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
      co_return HttpResponse::json(req.method == "POST" ? 201 : 200, json::serialize(arr));
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
          refused = twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.");
        }
      } else if (!status.empty()) {
        refused = twilio_error(400, 21218, "Invalid status " + status);
      } else if (!new_twiml.empty() || !new_url.empty()) {
        if (c->status != "in-progress") {
          refused = twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.");
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
    return HttpResponse::json(201, json::serialize(answer));
  }
};

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
