// sim::StreamLeg (Twilio's side of one Media Streams socket) against an in-process
// net::Server on 127.0.0.1 that plays the app: it records every message the leg sends
// and sends media/mark/clear back. One io_context on a background thread runs both the
// server and the leg; the leg lives on a strand, and the test thread drives it by
// posting to that strand and waiting for the result. Conditions are polled with a
// deadline.
#include "sim/stream_leg.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "core/base64.hpp"
#include "net/http_types.hpp"
#include "net/router.hpp"
#include "net/server.hpp"
#include "twilio/signature.hpp"

namespace vox::sim {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Frame = std::array<std::uint8_t, 160>;

constexpr auto kWait = 5s;
constexpr const char* kToken = "test-auth-token";
constexpr const char* kAccountSid = "AC0123456789abcdef0123456789abcdef";
constexpr const char* kCallSid = "CA0123456789abcdef0123456789abcdef";

// --- helpers ---------------------------------------------------------------------------

Frame filled(std::uint8_t b) {
  Frame f;
  f.fill(b);
  return f;
}

std::vector<std::uint8_t> bytes_of(const Frame& f) { return std::vector<std::uint8_t>(f.begin(), f.end()); }

// The string at JSON pointer `ptr`, or "" when absent or not a string.
std::string str_at(const json::value& v, std::string_view ptr) {
  std::error_code ec;
  const json::value* p = v.find_pointer(ptr, ec);
  if (!p || !p->is_string()) return {};
  const auto& s = p->get_string();
  return std::string(s.data(), s.size());
}

// sequenceNumber (a string in Twilio's messages) as a number, or -1.
long long seq_of(const json::value& m) {
  const std::string s = str_at(m, "/sequenceNumber");
  return s.empty() ? -1 : std::stoll(s);
}

// The decoded media.payload of a media message (empty when not valid base64).
std::vector<std::uint8_t> payload_of(const json::value& m) {
  const std::string p = str_at(m, "/media/payload");
  std::vector<std::uint8_t> out(base64::max_decoded_size(p.size()));
  const auto n = base64::decode(p, out);
  if (!n) return {};
  out.resize(*n);
  return out;
}

// Messages the app sends to Twilio (../shared/specs/twilio_media_streams.md).
std::string media_json(const std::string& sid, std::span<const std::uint8_t> ulaw) {
  std::string b64;
  base64::append(b64, ulaw);
  return R"({"event":"media","streamSid":")" + sid + R"(","media":{"payload":")" + b64 + R"("}})";
}
std::string mark_json(const std::string& sid, const std::string& name) {
  return R"({"event":"mark","streamSid":")" + sid + R"(","mark":{"name":")" + name + R"("}})";
}
std::string clear_json(const std::string& sid) { return R"({"event":"clear","streamSid":")" + sid + R"("})"; }

// Polls `cond` until it holds or kWait passes; returns whether it held.
template <typename F>
bool eventually(F cond) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
}

// --- the app ---------------------------------------------------------------------------

struct AppState {
  std::mutex mu;
  int upgrades = 0;
  std::string signature;  // X-Twilio-Signature of the last upgrade request
  std::shared_ptr<net::WsConnection> connection;
  std::vector<json::value> messages;  // every text message received, parsed (null if not JSON)
  bool closed = false;
};

class AppHandler final : public net::WsHandler {
 public:
  explicit AppHandler(std::shared_ptr<AppState> state) : st_(std::move(state)) {}
  void on_open(std::shared_ptr<net::WsConnection> connection) override {
    std::lock_guard lock(st_->mu);
    st_->connection = std::move(connection);
  }
  void on_text(std::string_view message) override {
    std::error_code ec;
    json::value v = json::parse(message, ec);
    std::lock_guard lock(st_->mu);
    st_->messages.push_back(ec ? json::value() : std::move(v));
  }
  void on_close(std::string_view) override {
    std::lock_guard lock(st_->mu);
    st_->closed = true;
    st_->connection.reset();
  }

 private:
  std::shared_ptr<AppState> st_;
};

// --- the fixture -----------------------------------------------------------------------

class StreamLegTest : public ::testing::Test {
 protected:
  StreamLegTest()
      : guard_(asio::make_work_guard(ioc_)), strand_(asio::make_strand(ioc_)), app_(std::make_shared<AppState>()) {
    net::Router router;
    router.add_ws("/app", [app = app_](const net::HttpRequest& req, net::HttpResponse&) -> std::unique_ptr<net::WsHandler> {
      {
        std::lock_guard lock(app->mu);
        ++app->upgrades;
        app->signature = std::string(req.header("X-Twilio-Signature"));
      }
      return std::make_unique<AppHandler>(app);
    });
    server_ = std::make_unique<net::Server>(ioc_, std::move(router), net::ServerLimits{});
    port_ = server_->listen("127.0.0.1", 0);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~StreamLegTest() override {
    try {
      if (leg_) {
        run([this] { leg_->stop(); });
        eventually([this] { return run([this] { return leg_->closed(); }); });
      }
    } catch (const std::exception&) {
      // Torn down below regardless.
    }
    server_->shutdown();
    guard_.reset();
    ioc_.stop();
    thread_.join();
    {
      std::lock_guard lock(app_->mu);
      app_->connection.reset();  // breaks connection → handler → state, should on_close not have run
    }
    leg_.reset();
    server_.reset();
  }

  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/app"; }

  StreamLegOptions options(bool bidirectional = true, const std::string& track = "inbound_track") const {
    StreamLegOptions o;
    o.url = url();
    o.auth_token = kToken;
    o.account_sid = kAccountSid;
    o.call_sid = kCallSid;
    o.parameters = {{"k", "v"}};
    o.bidirectional = bidirectional;
    o.track = track;
    return o;
  }

  // Opens a leg on the strand (as the emulator does from its call coroutine).
  std::shared_ptr<StreamLeg> open(StreamLegOptions o) {
    auto fut = asio::co_spawn(strand_, StreamLeg::open(std::move(o)), asio::use_future);
    if (fut.wait_for(kWait) != std::future_status::ready) throw std::runtime_error("StreamLeg::open did not finish");
    leg_ = fut.get();
    return leg_;
  }

  // Runs `f` on the leg's strand and returns its result.
  template <typename F>
  auto run(F f) -> decltype(f()) {
    using R = decltype(f());
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(f));
    auto fut = task->get_future();
    asio::post(strand_, [task] { (*task)(); });
    if (fut.wait_for(kWait) != std::future_status::ready) throw std::runtime_error("the strand did not run the task");
    return fut.get();
  }

  StreamLegStats stats() { return run([this] { return leg_->stats(); }); }

  // The app's side.
  std::vector<json::value> app_messages() {
    std::lock_guard lock(app_->mu);
    return app_->messages;
  }
  std::vector<json::value> app_events(std::string_view event) {
    std::vector<json::value> out;
    for (auto& m : app_messages())
      if (str_at(m, "/event") == event) out.push_back(std::move(m));
    return out;
  }
  std::size_t app_count() {
    std::lock_guard lock(app_->mu);
    return app_->messages.size();
  }
  bool app_closed() {
    std::lock_guard lock(app_->mu);
    return app_->closed;
  }
  // Waits for connected + start; returns start (null when it did not come).
  json::value app_start() {
    if (!eventually([this] { return app_count() >= 2; })) return {};
    return app_messages()[1];
  }
  void app_send(std::string message) {
    std::shared_ptr<net::WsConnection> c;
    {
      std::lock_guard lock(app_->mu);
      c = app_->connection;
    }
    ASSERT_TRUE(c) << "the app has no connection";
    c->send_text(std::move(message));
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::strand<asio::io_context::executor_type> strand_;
  std::shared_ptr<AppState> app_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::shared_ptr<StreamLeg> leg_;
};

// --- tests -----------------------------------------------------------------------------

TEST_F(StreamLegTest, SendsConnectedThenStartOverASignedUpgrade) {
  auto leg = open(options());
  ASSERT_TRUE(eventually([this] { return app_count() >= 2; }));
  const auto msgs = app_messages();
  EXPECT_EQ(str_at(msgs[0], "/event"), "connected");
  EXPECT_EQ(str_at(msgs[0], "/protocol"), "Call");
  EXPECT_EQ(str_at(msgs[0], "/version"), "1.0.0");

  const json::value& start = msgs[1];
  EXPECT_EQ(str_at(start, "/event"), "start");
  EXPECT_EQ(leg->stream_sid().size(), 34u);
  EXPECT_EQ(leg->stream_sid().rfind("MZ", 0), 0u) << leg->stream_sid();
  EXPECT_EQ(str_at(start, "/streamSid"), leg->stream_sid());
  EXPECT_EQ(str_at(start, "/start/streamSid"), leg->stream_sid());
  EXPECT_EQ(str_at(start, "/start/callSid"), kCallSid);
  EXPECT_EQ(str_at(start, "/start/accountSid"), kAccountSid);
  EXPECT_EQ(seq_of(start), 1);
  std::error_code ec;
  const json::value* params = start.find_pointer("/start/customParameters", ec);
  ASSERT_NE(params, nullptr);
  EXPECT_EQ(*params, json::parse(R"({"k":"v"})"));
  const json::value* tracks = start.find_pointer("/start/tracks", ec);
  ASSERT_NE(tracks, nullptr);
  EXPECT_EQ(*tracks, json::parse(R"(["inbound"])"));
  EXPECT_EQ(str_at(start, "/start/mediaFormat/encoding"), "audio/x-mulaw");

  std::lock_guard lock(app_->mu);
  EXPECT_EQ(app_->upgrades, 1);
  EXPECT_EQ(app_->signature, twilio::compute_signature(kToken, url(), {}));
  EXPECT_TRUE(twilio::validate_signature(kToken, url(), {}, app_->signature));
  EXPECT_NE(app_->signature, twilio::compute_signature("another-token", url(), {}));
}

TEST_F(StreamLegTest, NoAuthTokenMeansNoSignature) {
  auto o = options();
  o.auth_token.clear();
  open(std::move(o));
  ASSERT_TRUE(eventually([this] { return app_count() >= 2; }));
  std::lock_guard lock(app_->mu);
  EXPECT_EQ(app_->upgrades, 1);
  EXPECT_EQ(app_->signature, "");
}

TEST_F(StreamLegTest, ForksInboundFramesAsMediaMessages) {
  auto leg = open(options());
  const json::value start = app_start();
  ASSERT_EQ(str_at(start, "/event"), "start");
  Frame a{}, b{};
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<std::uint8_t>(i);
    b[i] = static_cast<std::uint8_t>(255 - i);
  }
  const Frame other = filled(0x7E);  // the outbound side: not sent on a bidirectional stream
  run([&] {
    leg->send_frame(a, other);
    leg->send_frame(b, other);
  });
  ASSERT_TRUE(eventually([this] { return app_events("media").size() >= 2; }));
  const auto media = app_events("media");
  ASSERT_EQ(media.size(), 2u);
  const Frame* sent[] = {&a, &b};
  long long last_seq = seq_of(start);
  for (std::size_t k = 0; k < 2; ++k) {
    const auto& m = media[k];
    EXPECT_EQ(str_at(m, "/streamSid"), leg->stream_sid()) << k;
    EXPECT_EQ(str_at(m, "/media/track"), "inbound") << k;
    EXPECT_EQ(str_at(m, "/media/chunk"), std::to_string(k + 1)) << k;
    EXPECT_EQ(str_at(m, "/media/timestamp"), std::to_string(20 * k)) << k;
    EXPECT_GT(seq_of(m), last_seq) << k;
    last_seq = seq_of(m);
    EXPECT_EQ(payload_of(m), bytes_of(*sent[k])) << k;
  }
  EXPECT_EQ(stats().frames_sent, 2u);
}

TEST_F(StreamLegTest, PlaysAppAudioAndEchoesAMarkOnlyOnceItsAudioHasPlayed) {
  auto leg = open(options());
  const std::string sid = str_at(app_start(), "/streamSid");
  ASSERT_EQ(sid, leg->stream_sid());
  const std::vector<std::uint8_t> audio(320, 0x11);
  app_send(media_json(sid, audio));
  app_send(mark_json(sid, "m1"));
  ASSERT_TRUE(eventually([this] { return stats().marks_received == 1; }));
  EXPECT_EQ(stats().bytes_received, 320u);

  Frame out = filled(0x00);
  EXPECT_TRUE(run([&] { return leg->play(out); }));
  EXPECT_EQ(out, filled(0x11));
  // Whatever play() sent is on the socket ahead of this frame: once the frame is at the
  // app, a mark echoed by the first play() would be too.
  const Frame probe = filled(0x55);
  run([&] { leg->send_frame(probe, probe); });
  ASSERT_TRUE(eventually([this] { return app_events("media").size() == 1; }));
  EXPECT_TRUE(app_events("mark").empty()) << "mark echoed before its audio had played";
  EXPECT_EQ(stats().marks_echoed, 0);

  out = filled(0x00);
  EXPECT_TRUE(run([&] { return leg->play(out); }));
  EXPECT_EQ(out, filled(0x11));
  ASSERT_TRUE(eventually([this] { return app_events("mark").size() == 1; }));
  const auto mark = app_events("mark")[0];
  EXPECT_EQ(str_at(mark, "/mark/name"), "m1");
  EXPECT_EQ(str_at(mark, "/streamSid"), sid);
  EXPECT_GT(seq_of(mark), seq_of(app_events("media")[0]));
  EXPECT_EQ(stats().marks_echoed, 1);

  // Nothing left: silence, and play() says so.
  out = filled(0x00);
  EXPECT_FALSE(run([&] { return leg->play(out); }));
  EXPECT_EQ(out, filled(0xFF));
}

TEST_F(StreamLegTest, ClearDropsQueuedAudioAndReturnsPendingMarks) {
  auto leg = open(options());
  const std::string sid = str_at(app_start(), "/streamSid");
  ASSERT_FALSE(sid.empty());
  const std::vector<std::uint8_t> audio(1600, 0x22);
  app_send(media_json(sid, audio));
  app_send(mark_json(sid, "m2"));
  app_send(clear_json(sid));
  // The mark comes back without any play().
  ASSERT_TRUE(eventually([this] { return app_events("mark").size() == 1; }));
  EXPECT_EQ(str_at(app_events("mark")[0], "/mark/name"), "m2");
  const auto st = stats();
  EXPECT_EQ(st.clears, 1);
  EXPECT_EQ(st.marks_received, 1);
  EXPECT_EQ(st.marks_echoed, 1);
  EXPECT_EQ(st.bytes_received, 1600u);

  Frame out = filled(0x00);
  EXPECT_FALSE(run([&] { return leg->play(out); }));
  EXPECT_EQ(out, filled(0xFF));

  // Audio after the clear plays, and its mark is echoed once played.
  const std::vector<std::uint8_t> more(160, 0x33);
  app_send(media_json(sid, more));
  app_send(mark_json(sid, "m3"));
  ASSERT_TRUE(eventually([this] { return stats().marks_received == 2; }));
  EXPECT_TRUE(run([&] { return leg->play(out); }));
  EXPECT_EQ(out, filled(0x33));
  ASSERT_TRUE(eventually([this] { return app_events("mark").size() == 2; }));
  EXPECT_EQ(str_at(app_events("mark")[1], "/mark/name"), "m3");
}

TEST_F(StreamLegTest, UnidirectionalBothTracksForksBothAndRejectsAppMessages) {
  auto leg = open(options(false, "both_tracks"));
  const json::value start = app_start();
  ASSERT_EQ(str_at(start, "/event"), "start");
  std::error_code ec;
  const json::value* tracks = start.find_pointer("/start/tracks", ec);
  ASSERT_NE(tracks, nullptr);
  EXPECT_EQ(*tracks, json::parse(R"(["inbound","outbound"])"));
  const std::string sid = str_at(start, "/streamSid");

  const Frame in = filled(0x22);
  const Frame outbound = filled(0x33);
  run([&] { leg->send_frame(in, outbound); });
  ASSERT_TRUE(eventually([this] { return app_events("media").size() >= 2; }));
  auto media = app_events("media");
  ASSERT_EQ(media.size(), 2u);
  EXPECT_EQ(str_at(media[0], "/media/track"), "inbound");
  EXPECT_EQ(payload_of(media[0]), bytes_of(in));
  EXPECT_EQ(str_at(media[1], "/media/track"), "outbound");
  EXPECT_EQ(payload_of(media[1]), bytes_of(outbound));
  EXPECT_EQ(str_at(media[0], "/media/chunk"), "1");
  EXPECT_EQ(str_at(media[1], "/media/chunk"), "1");
  EXPECT_GT(seq_of(media[1]), seq_of(media[0]));
  EXPECT_EQ(stats().frames_sent, 1u);

  // Media from the app on a unidirectional stream is a protocol error and is not played.
  const std::vector<std::uint8_t> audio(320, 0x44);
  app_send(media_json(sid, audio));
  ASSERT_TRUE(eventually([this] { return stats().protocol_errors == 1; }));
  Frame out = filled(0x00);
  EXPECT_FALSE(run([&] { return leg->play(out); }));
  EXPECT_EQ(out, filled(0xFF));
  EXPECT_EQ(stats().bytes_received, 0u);

  // So are mark and clear: nothing is queued or echoed.
  app_send(mark_json(sid, "m"));
  app_send(clear_json(sid));
  ASSERT_TRUE(eventually([this] { return stats().protocol_errors == 3; }));
  const auto st = stats();
  EXPECT_EQ(st.marks_received, 0);
  EXPECT_EQ(st.clears, 0);
  EXPECT_EQ(st.marks_echoed, 0);
  run([&] { leg->send_frame(in, outbound); });  // anything echoed would arrive before these
  ASSERT_TRUE(eventually([this] { return app_events("media").size() >= 4; }));
  EXPECT_TRUE(app_events("mark").empty());
  EXPECT_FALSE(run([&] { return leg->closed(); }));
}

TEST_F(StreamLegTest, StopSendsStopAndCloses) {
  auto leg = open(options());
  const json::value start = app_start();
  const std::string sid = str_at(start, "/streamSid");
  ASSERT_FALSE(sid.empty());
  EXPECT_FALSE(run([&] { return leg->closed(); }));

  run([&] { leg->stop(); });
  ASSERT_TRUE(eventually([this] { return app_events("stop").size() == 1; }));
  const auto stop = app_events("stop")[0];
  EXPECT_EQ(str_at(stop, "/streamSid"), sid);
  EXPECT_EQ(str_at(stop, "/stop/callSid"), kCallSid);
  EXPECT_EQ(str_at(stop, "/stop/accountSid"), kAccountSid);
  EXPECT_GT(seq_of(stop), seq_of(start));

  EXPECT_TRUE(eventually([&] { return run([&] { return leg->closed(); }); }));
  EXPECT_TRUE(eventually([this] { return app_closed(); }));
  const auto msgs = app_messages();
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(str_at(msgs.back(), "/event"), "stop");

  // Stopped: frames are not sent any more, and a second stop() is harmless.
  const Frame f = filled(0x01);
  run([&] {
    leg->send_frame(f, f);
    leg->stop();
  });
  EXPECT_EQ(stats().frames_sent, 0u);
  EXPECT_EQ(app_events("stop").size(), 1u);
}

}  // namespace
}  // namespace vox::sim
