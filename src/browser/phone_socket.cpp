#include "browser/phone_socket.hpp"

#include <boost/json/serialize.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <random>
#include <vector>

#include "audio/g711.hpp"
#include "browser/phone_messages.hpp"
#include "browser/webrtc_media.hpp"
#include "call/event_json.hpp"
#include "webrtc/peer.hpp"

namespace vox::browser {

namespace {
std::string random_hex_sid(std::string_view prefix) {
  thread_local std::mt19937_64 gen = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(prefix);
  for (int i = 0; i < 32; ++i) s.push_back(kHex[gen() % 16]);
  return s;
}

// How long a WebRTC call may take from its start to a connected peer.
constexpr std::chrono::seconds kWebRtcConnectTimeout{20};
constexpr int kMaxCandidates = 50;

// Built-in agents a page may ask for by name ("" = the server's default).
bool known_agent(std::string_view a) {
  return a.empty() || a == "echo" || a == "script" || a == "webhook" || a == "llm" || a == "external";
}
}  // namespace

std::string new_browser_call_sid() { return random_hex_sid("WB"); }

bool browser_call_sid(std::string_view sid) {
  if (sid.size() != 34 || sid.substr(0, 2) != "WB") return false;
  for (const char c : sid.substr(2))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

struct PhoneSocketHandler::Line final : call::MediaOutbox, call::CallObserver, std::enable_shared_from_this<Line> {
  Line(const PhoneSettings& s, call::CallStarter& st) : settings(s), starter(st) {}

  const PhoneSettings& settings;
  call::CallStarter& starter;
  std::shared_ptr<net::WsConnection> conn;
  std::shared_ptr<call::CallSession> session;
  bool starting = false;
  bool admitting = false;                        // waiting for the company's limit to answer
  std::unique_ptr<CallAdmission> admission;      // held until the call has started
  bool closed = false;
  std::string call_sid = "-";
  std::vector<std::uint8_t> ulaw;    // the page's audio as μ-law (grows once to the largest message)
  std::vector<std::int16_t> pcm;     // a reply chunk decoded for the page
  std::string out;                   // the outbound text message being written (capacity reused)
  std::uint64_t bad_messages = 0, early_audio = 0, bad_audio = 0;
  // WebRTC: the call waits in `pending` until the peer connection is up.
  std::optional<call::StreamStart> pending;
  std::shared_ptr<webrtc::Peer> peer;
  std::shared_ptr<WebRtcMedia> rtc;
  bool webrtc_ready = false;
  std::optional<std::string> early_offer;  // an offer that came while WebRTC was being readied
  std::vector<PhoneIce> early_ice;         // candidates that came before the peer
  int candidates = 0;                      // the page's candidates so far
  bool counted_connecting = false;         // counted in settings.connecting_webrtc

  void stop_counting_connecting() {
    if (counted_connecting) --*settings.connecting_webrtc;
    counted_connecting = false;
  }
  std::unique_ptr<boost::asio::steady_timer> connect_deadline;  // the peer must connect by then

  void complain(std::uint64_t& counter, std::string_view what) {
    ++counter;
    if (counter <= 5 || counter % 100 == 0)
      spdlog::warn("phone socket: {} call_sid={} remote={} (occurrence {})", what, call_sid,
                   conn ? conn->remote() : "-", counter);
  }

  // Tells the page what is wrong, and for a start that cannot be used, closes.
  void refuse(std::string_view detail, std::uint16_t code) {
    conn->send_text(phone_error(detail));
    conn->close(code, std::string(detail.substr(0, 120)));
  }

  void on_text(std::string_view text) {
    const PhoneMessage m = parse_phone_message(text);
    std::visit([&](const auto& body) { on_message(body); }, m);
  }

  void on_message(const PhoneBad& b) {
    complain(bad_messages, "bad message dropped: " + b.reason);
    // The first few are answered (a page's bug shows in its console); a flood is not.
    if (bad_messages <= 20) conn->send_text(phone_error(b.reason));
  }
  void on_message(const PhoneMark& m) {
    if (session) session->on_mark(m.name);
  }
  void on_message(const PhoneDtmf& d) {
    if (session) session->on_dtmf(d.digit);
  }
  void on_message(const PhoneOffer& o) {
    if (admitting && !early_offer) {  // kept until the call is admitted and WebRTC is ready
      early_offer = o.sdp;
      return;
    }
    if (!pending || peer || early_offer)
      return on_message(PhoneBad{"an offer comes once, after a start with transport \"webrtc\""});
    if (!webrtc_ready) {
      early_offer = o.sdp;
      return;
    }
    answer(o.sdp);
  }

  void answer(const std::string& sdp) {
    std::weak_ptr<Line> weak = weak_from_this();
    webrtc::PeerSettings ps;
    ps.run_blocking = settings.run_blocking;
    webrtc::PeerCallbacks cb;
    cb.answer = [weak](std::string sdp) {
      if (auto self = weak.lock(); self && !self->closed) self->conn->send_text(phone_answer(sdp));
    };
    cb.candidate = [weak](std::string candidate, int mline) {
      if (auto self = weak.lock(); self && !self->closed) self->conn->send_text(phone_ice(candidate, mline));
    };
    cb.connected = [weak] {
      if (auto self = weak.lock(); self && !self->closed) self->connected();
    };
    cb.failed = [weak](std::string why) {
      auto self = weak.lock();
      if (!self || self->closed) return;
      spdlog::warn("browser call {}: {}", self->call_sid, why);  // the details stay in the log
      if (self->session) self->session->end("the WebRTC connection was lost");
      self->refuse("The WebRTC connection failed or was lost: try again, or use the WebSocket transport", 1011);
    };
    peer = webrtc::Peer::create(conn->executor(), ps, std::move(cb));
    try {
      peer->offer(sdp);
    } catch (const std::invalid_argument& e) {
      peer.reset();
      return on_message(PhoneBad{e.what()});
    } catch (const std::exception& e) {
      spdlog::error("browser call {}: WebRTC could not start: {}", call_sid, e.what());
      peer.reset();
      return refuse("WebRTC is not available on this server; use the WebSocket transport", 1011);
    }
    for (const auto& i : early_ice) peer->add_candidate(i.candidate, i.mline_index);
    early_ice.clear();
  }
  void on_message(const PhoneIce& i) {
    if (!pending && !peer && !admitting)
      return on_message(PhoneBad{"ICE candidates belong to a call with transport \"webrtc\""});
    // A browser offers a handful; each one makes the server send connectivity checks, so
    // a page gets at most kMaxCandidates, and none once connected.
    if (rtc || ++candidates > kMaxCandidates) return complain(bad_messages, "ICE candidate ignored");
    if (peer) return peer->add_candidate(i.candidate, i.mline_index);
    early_ice.push_back(i);
  }
  // WebRTC is ready (or why not), on the strand.
  void webrtc_prepared(const std::string& why) {
    if (closed || !pending) return;
    if (!why.empty()) {
      spdlog::error("browser call {}: WebRTC unavailable: {}", call_sid, why);
      return refuse("WebRTC is not available on this server; use the WebSocket transport", 1011);
    }
    webrtc_ready = true;
    if (early_offer) {
      const std::string sdp = std::move(*early_offer);
      early_offer.reset();
      answer(sdp);
    }
  }
  // The peer connection is up: the audio can flow, the call begins.
  void connected() {
    if (!pending || rtc) return;
    std::weak_ptr<Line> weak = weak_from_this();
    WebRtcMedia::Hooks hooks;
    hooks.heard_caller = [weak](std::span<const std::uint8_t> ulaw) {
      auto self = weak.lock();
      if (self && self->session) self->session->on_media(ulaw, -1);
    };
    hooks.played = [weak](const std::string& mark) {
      auto self = weak.lock();
      if (self && self->session) self->session->on_mark(mark);
    };
    if (connect_deadline) connect_deadline->cancel();
    stop_counting_connecting();
    rtc = std::make_shared<WebRtcMedia>(conn->executor(), peer, std::move(hooks));
    rtc->start();
    // The audio no longer comes over this socket: the page's pings keep it alive, and a
    // lost peer connection ends the call (webrtcbin reports it).
    conn->set_idle_limit(std::chrono::seconds(60));
    call::StreamStart req = std::move(*pending);
    pending.reset();
    begin(std::move(req));
  }

  void on_message(const PhonePing&) {}  // its arrival is what counts (the idle limit)
  void on_message(const PhoneHangup&) {
    if (session) session->end("the caller hung up");
    conn->close(1000, "hung up");
  }
  void on_message(const PhoneStart& s) {
    if (session || starting) return complain(bad_messages, "second start ignored");
    const auto tenant = settings.authorize ? settings.authorize(s.key) : std::optional<std::string>("local");
    if (!tenant) {
      spdlog::warn("phone socket: start refused, invalid or missing API key remote={}", conn->remote());
      return refuse("Invalid or missing API key: give a company key from VOX_API_KEYS", 1008);
    }
    if (!known_agent(s.agent))
      return refuse("Unknown agent \"" + s.agent.substr(0, 40) + "\": use echo, script, webhook, llm or external", 1008);
    call::StreamStart req;
    req.call_sid = new_browser_call_sid();
    req.stream_sid = random_hex_sid("MZ");
    call_sid = req.call_sid;
    req.parameters["direction"] = "browser";
    req.parameters["tenant"] = *tenant;
    req.parameters["from"] = "browser";
    if (!s.agent.empty()) req.parameters["agent"] = s.agent;
    if (!s.agent_id.empty()) req.parameters["agent_id"] = s.agent_id;
    if (!s.voice.empty()) req.parameters["voice"] = s.voice;
    if (s.has_greeting) req.parameters["greeting"] = s.greeting;
    req.parameters["to"] = s.agent_id.empty() ? (s.agent.empty() ? "agent" : s.agent) : s.agent_id;
    starting = true;
    spdlog::info("browser call starting call_sid={} tenant={} agent={} transport={} remote={}", call_sid, *tenant,
                 s.agent.empty() ? "default" : s.agent, s.webrtc ? "webrtc" : "ws", conn->remote());
    if (!settings.admit) return proceed(std::move(req), s.webrtc);
    admitting = true;
    std::weak_ptr<Line> weak = weak_from_this();
    auto ex = conn->executor();
    const bool webrtc = s.webrtc;
    settings.admit(*tenant, call_sid, [weak, ex, req, webrtc](std::unique_ptr<CallAdmission> a, std::string refusal) {
      boost::asio::post(ex, [weak, req, webrtc, a = std::move(a), refusal = std::move(refusal)]() mutable {
        if (auto self = weak.lock()) self->admitted(std::move(req), webrtc, std::move(a), refusal);
      });
    });
  }

  // The company's limit answered (on the strand).
  void admitted(call::StreamStart req, bool webrtc, std::unique_ptr<CallAdmission> a, const std::string& refusal) {
    admitting = false;
    if (closed) return;
    if (!refusal.empty()) {
      spdlog::info("browser call {}: refused: {}", call_sid, refusal);
      return refuse(refusal, 1013);
    }
    admission = std::move(a);
    proceed(std::move(req), webrtc);
  }

  void proceed(call::StreamStart req, bool webrtc) {
    if (webrtc) {
      if (!settings.prepare_webrtc) return refuse("WebRTC is not available on this server; use the WebSocket transport", 1011);
      if (settings.connecting_webrtc && ++*settings.connecting_webrtc > settings.max_connecting_webrtc) {
        --*settings.connecting_webrtc;
        spdlog::warn("browser call {}: refused, {} WebRTC calls are already connecting", call_sid,
                     settings.max_connecting_webrtc);
        return refuse("Too many WebRTC calls are connecting right now: try again shortly", 1013);
      }
      counted_connecting = settings.connecting_webrtc != nullptr;
      pending = std::move(req);  // the call begins once the peer connection is up
      std::weak_ptr<Line> weak = weak_from_this();
      // A browser that cannot reach us over UDP never connects: say so instead of waiting.
      connect_deadline = std::make_unique<boost::asio::steady_timer>(conn->executor(), kWebRtcConnectTimeout);
      connect_deadline->async_wait([weak](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || self->closed || self->rtc) return;
        spdlog::warn("browser call {}: the WebRTC peer did not connect within {} s", self->call_sid,
                     kWebRtcConnectTimeout.count());
        self->refuse("The WebRTC connection could not be made (is UDP blocked between you and the server?): "
                     "use the WebSocket transport", 1011);
      });
      auto ex = conn->executor();
      settings.prepare_webrtc([weak, ex](std::string why) {
        boost::asio::post(ex, [weak, why = std::move(why)] {
          if (auto self = weak.lock()) self->webrtc_prepared(why);
        });
      });
      return;
    }
    begin(std::move(req));
  }

  void begin(call::StreamStart req) {
    req.observer = shared_from_this();  // the page's transcript starts with the greeting
    starter.start_for(shared_from_this(), std::move(req), conn->executor());
  }

  void started(call::CallStarter::Started s) {
    starting = false;
    if (closed) {
      if (s.session) s.session->end("socket closed while starting");
      return;
    }
    if (!s.session) return refuse(s.reason, static_cast<std::uint16_t>(s.close_code));
    session = std::move(s.session);
    if (admission) admission->call_started();
    admission.reset();
    conn->send_text(phone_started(session->context().call_sid, session->context().stream_sid));
  }

  void on_binary(std::string_view data) {
    if (rtc || pending) return complain(bad_audio, "binary audio on a WebRTC call dropped (the audio goes over WebRTC)");
    if (!session) return complain(early_audio, "audio before the call started dropped");
    if (data.size() % 2 != 0 || data.size() > settings.max_audio_bytes || data.empty())
      return complain(bad_audio, "audio message of " + std::to_string(data.size()) +
                                     " bytes dropped (PCM16: an even number of bytes, at most " +
                                     std::to_string(settings.max_audio_bytes) + ")");
    const std::size_t n = data.size() / 2;
    if (ulaw.size() < n) ulaw.resize(n);  // grows once, not per frame
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
    for (std::size_t i = 0; i < n; ++i) {
      const auto sample = static_cast<std::int16_t>(static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
      ulaw[i] = audio::ulaw_encode(sample);
    }
    session->on_media(std::span<const std::uint8_t>(ulaw.data(), n), -1);
  }

  void finish(std::string_view reason) {
    if (closed) return;
    closed = true;
    if (session) {
      session->remove_observer(this);
      session->end(reason);
    }
    session.reset();
    admission.reset();  // (a call that never started gives its place back)
    if (connect_deadline) connect_deadline->cancel();
    stop_counting_connecting();
    if (rtc) rtc->stop();
    if (peer) peer->stop();
    rtc.reset();
    peer.reset();
    if (bad_messages + early_audio + bad_audio > 0)
      spdlog::info("phone socket closed call_sid={} bad_messages={} early_audio={} bad_audio={}", call_sid, bad_messages,
                   early_audio, bad_audio);
  }

  // call::MediaOutbox: the reply's μ-law, decoded once for the page.
  void send_media(std::string_view, std::span<const std::uint8_t> chunk) override {
    if (rtc) return rtc->enqueue(chunk);
    if (pcm.size() < chunk.size()) pcm.resize(chunk.size());
    audio::ulaw_decode(chunk, std::span<std::int16_t>(pcm.data(), chunk.size()));
    // PCM16 little-endian on the wire (every platform a browser runs on is little-endian,
    // but the bytes are written explicitly).
    out.resize(chunk.size() * 2);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const auto v = static_cast<std::uint16_t>(pcm[i]);
      out[2 * i] = static_cast<char>(v & 0xff);
      out[2 * i + 1] = static_cast<char>(v >> 8);
    }
    conn->send_binary_copy(out);
  }
  void send_mark(std::string_view, std::string_view name) override {
    if (rtc) return rtc->mark(std::string(name));
    write_phone_mark(out, name);
    conn->send_text_copy(out);
  }
  void send_clear(std::string_view) override {
    if (rtc) rtc->clear();
    conn->send_text(phone_clear());  // the page's statistics see the clear too
  }
  void close(std::string_view reason) override {
    conn->send_text(phone_ended(reason));
    conn->close(1000, std::string(reason.substr(0, 120)));
  }

  // call::CallObserver: what happens in the call, for the page's transcript and timings.
  void on_event(const call::CallContext&, const call::CallEvent& e) override {
    auto o = call::event_json(e);
    if (o.empty()) return;
    o["type"] = "event";
    conn->send_text(boost::json::serialize(o));
  }
};

PhoneSocketHandler::PhoneSocketHandler(const PhoneSettings& settings, call::CallStarter& starter)
    : line_(std::make_shared<Line>(settings, starter)) {}

PhoneSocketHandler::~PhoneSocketHandler() { line_->finish("handler destroyed"); }

void PhoneSocketHandler::on_open(std::shared_ptr<net::WsConnection> connection) {
  line_->conn = std::move(connection);
  if (line_->settings.silence_limit.count() > 0) line_->conn->set_idle_limit(line_->settings.silence_limit);
}

void PhoneSocketHandler::on_text(std::string_view message) { line_->on_text(message); }
void PhoneSocketHandler::on_binary(std::string_view message) { line_->on_binary(message); }
void PhoneSocketHandler::on_close(std::string_view reason) { line_->finish(reason); }

}  // namespace vox::browser
