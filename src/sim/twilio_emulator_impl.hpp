#pragma once
// The Twilio emulator's insides (private to sim/): a call's record and the legs of a
// bridged call, and the emulator's shared state (Impl). The REST API and call flow are in
// twilio_emulator.cpp, the TwiML runner and media streams in twilio_emulator_twiml.cpp,
// the bridging of two apps' legs in twilio_emulator_bridge.cpp.
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net/client.hpp"
#include "sim/caller.hpp"
#include "sim/stream_leg.hpp"
#include "sim/twiml_reader.hpp"
#include "sim/twilio_emulator.hpp"
#include "twilio/signature.hpp"

namespace vox::sim {
namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;

namespace twemu {

// The current time in RFC 2822 (Twilio's date format).
std::string rfc2822_now();
// Twilio's error answer {"code","message","more_info","status"}.
HttpResponse error_answer(int status, int code, const std::string& message);

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

// A <Play> URL's body as 8 kHz μ-law (WAV PCM16 any rate or μ-law, raw μ-law, MP3); nullopt when unreadable.
std::optional<std::vector<std::uint8_t>> decode_play_audio(const std::string& body, std::string_view content_type);

}  // namespace twemu

struct TwilioEmulator::Impl : std::enable_shared_from_this<TwilioEmulator::Impl> {
  using CallRecord = twemu::CallRecord;
  using Side = twemu::Side;
  using Bridge = twemu::Bridge;
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

  json::object call_json(const CallRecord& c) const;

  void record_request(const HttpRequest& req, int status);

  bool authorized(const HttpRequest& req, std::string_view account) const;

  void set_status(CallRecord& c, const std::string& s);

  // Sends `params` to an app's `url` as Twilio does: a form-encoded POST signed over the
  // URL and the parameters, or a GET with them in the query, signed over the full URL.
  asio::awaitable<net::HttpResponse> twilio_request(std::string url, std::string method, twilio::FormParams params,
                                                    std::chrono::milliseconds timeout);

  // A status callback, signed like Twilio's, for `event` (also the CallStatus).
  asio::awaitable<void> callback(std::shared_ptr<CallRecord> c, std::string call_status, std::string event);

  asio::awaitable<void> sleep_ms(int ms);

  static bool interrupted(const CallRecord& c) { return c.hangup->load(); }

  void note_verb(CallRecord& c, const std::string& verb, const std::string& detail);

  twilio::FormParams call_params(const CallRecord& c, const std::string& call_status) const;

  // Requests TwiML from `url` (signed, with the call's parameters, as Twilio does);
  // returns "" and sets `error` on failure (Twilio error 11200).
  asio::awaitable<std::string> fetch_twiml(std::shared_ptr<CallRecord> c, std::string url, std::string method,
                                           std::string call_status, std::string& error);

  // A <Stream statusCallback> event (stream-started, stream-stopped, stream-error), signed.
  asio::awaitable<void> stream_callback(std::shared_ptr<CallRecord> c, std::size_t index, std::string event,
                                        std::string stream_error);

  // Adds a stream to the call's record; returns its index.
  std::size_t add_stream(CallRecord& c, const TwimlNode& stream, const std::string& kind, const std::string& sid);

  void record_stream_end(CallRecord& c, std::size_t index, const StreamLegStats& st, const std::string& error);

  StreamLegOptions leg_options(const CallRecord& c, const TwimlNode& stream, bool bidirectional) const;

  // Opens a stream to an app and records it in the call; on a failed handshake (Twilio
  // warning 31920) records that, sends `stream-error`, sets `err` and returns null.
  asio::awaitable<std::shared_ptr<StreamLeg>> open_leg(std::shared_ptr<CallRecord> c, const TwimlNode& stream,
                                                       bool bidirectional, std::size_t& index, std::string& err);

  // <Start><Stream>: a fork of the line to the app; returns when it is open (or failed).
  asio::awaitable<void> start_fork(std::shared_ptr<Side> side, const TwimlNode& stream);

  asio::awaitable<void> stop_fork(std::shared_ptr<Side> side, std::size_t at);

  // Feeds the forks of an unbridged call: what the callee said and what it heard.
  static void feed_forks(Side& side, std::span<const std::uint8_t, 160> said, std::span<const std::uint8_t, 160> heard);

  // Plays `ulaw` to the far end in real time (a <Say>, <Play> or <Pause>); it is heard
  // as one segment when `heard` is set. Stops early when the call is interrupted.
  asio::awaitable<void> play_audio(std::shared_ptr<Side> side, std::vector<std::uint8_t> ulaw, bool heard);

  // <Connect><Stream>: the bidirectional media stream; blocks until it ends.
  asio::awaitable<void> connect_stream(std::shared_ptr<Side> side, const TwimlNode& stream, std::string& error);

  // Runs TwiML documents until the call ends: `doc`, then whatever <Redirect>, a
  // <Connect action> or a live update leads to.
  asio::awaitable<void> run_twiml(std::shared_ptr<Side> side, std::string doc, std::string& error);

  void complete(CallRecord& c, const std::string& error);

  // The life of one call with a scripted far end.
  asio::awaitable<void> run_call(std::shared_ptr<CallRecord> c);

  // initiated → ringing; false when the call was canceled meanwhile.
  asio::awaitable<bool> ring(std::shared_ptr<CallRecord> c);

  asio::awaitable<bool> answer(std::shared_ptr<CallRecord> c);

  // The media clock of a bridged call: every 20 ms each side's app output (its stream's
  // playout, else its <Say>/<Play> audio, else silence) becomes the other side's inbound
  // audio; pending digits are delivered one per tick.
  asio::awaitable<void> tick_bridge(std::shared_ptr<Bridge> b);

  asio::awaitable<void> run_side(std::shared_ptr<Bridge> b, int i, std::string doc);

  // A call placed to a number registered here: ring its app, bridge the two legs.
  asio::awaitable<void> run_bridged(std::shared_ptr<Bridge> b);

  // An inbound call: the number's voice URL is posted (signed), then the call runs like
  // any other (TwiML, media, callee).
  std::string ring_inbound(const std::string& voice_url, const std::string& from, const std::string& to);

  void transcribe(std::shared_ptr<CallRecord> c, std::vector<HeardSegment> heard);

  asio::awaitable<HttpResponse> handle(const HttpRequest& req);

  HttpResponse create(const HttpRequest& req);
};

}  // namespace vox::sim
