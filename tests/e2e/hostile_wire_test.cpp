// Hostile clients on the wire: hand-built bytes over raw TCP against the real server.
// WebSocket framing abuse on Twilio's media socket and the control API's client socket,
// slowloris, request smuggling, header and URL floods, path traversal, and numbers at the
// edges of JSON in media messages. Each test checks that the hostile connection alone is
// closed (with the close code or status the protocol asks for), that the server process
// is still running and answers /health, and that a simulated caller's call running
// alongside completes normally. (hostile_test.cpp covers the first round of this: forged
// timestamps as strings, oversized headers and URLs, bad Content-Length values.)
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audio/wav.hpp"
#include "core/base64.hpp"
#include "e2e_support.hpp"
#include "media_socket.hpp"
#include "server_process.hpp"
#include "sim/sid.hpp"
#include "twilio/media_messages.hpp"

namespace vox::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// ---------------------------------------------------------------------------------
// A raw TCP connection: writes exactly the bytes it is given, reads with deadlines.

class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      const int e = errno;
      ::close(fd_);
      throw std::runtime_error(std::string("connect: ") + std::strerror(e));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(RawConnection&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), in_(std::move(o.in_)), eof_(o.eof_), reset_(o.reset_) {}
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  RawConnection& operator=(RawConnection&&) = delete;

  int fd() const { return fd_; }
  // Closes this side of the connection.
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    eof_ = true;
  }

  // Writes all of `bytes` (blocking); false once the server has closed or reset the connection.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Waits up to `timeout` for bytes or the end of the stream and takes what came (into
  // received()). Returns false once the server has closed (EOF) or reset the connection.
  bool poll_read(ms timeout) {
    if (closed()) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<ms::rep>(0, timeout.count()))) <= 0) return true;
    char buf[65536];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) in_.append(buf, static_cast<std::size_t>(n));
    else if (n == 0) eof_ = true;
    else if (errno != EINTR && errno != EAGAIN) reset_ = true;
    return !closed();
  }

  // Reads until `done()` holds, the connection ends or `timeout` passes; returns `done()`.
  bool read_until(const std::function<bool()>& done, ms timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      const auto left = std::chrono::duration_cast<ms>(deadline - Clock::now());
      if (left <= 0ms || closed()) return done();
      poll_read(std::min<ms>(left + 1ms, 200ms));
    }
    return true;
  }

  // Reads until the server ends the connection; false when `timeout` passes first.
  bool wait_closed(ms timeout) {
    return read_until([this] { return closed(); }, timeout);
  }

  std::string& received() { return in_; }
  bool closed() const { return eof_ || reset_; }

 private:
  int fd_ = -1;
  std::string in_;
  bool eof_ = false;
  bool reset_ = false;
};

// ---------------------------------------------------------------------------------
// HTTP over a raw connection.

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The responses at the start of `raw`, in order; `rest` gets what follows them.
std::vector<Response> parse_responses(std::string_view raw, std::string* rest = nullptr) {
  std::vector<Response> out;
  while (raw.rfind("HTTP/1.1 ", 0) == 0) {
    const auto end = raw.find("\r\n\r\n");
    if (end == std::string_view::npos) break;
    Response r;
    r.head = std::string(raw.substr(0, end));
    r.status = std::atoi(r.head.c_str() + 9);
    const std::string h = lower(r.head);
    std::size_t len = 0;
    if (const auto cl = h.find("\r\ncontent-length:"); cl != std::string::npos) len = std::stoul(h.substr(cl + 17));
    raw.remove_prefix(end + 4);
    r.body = std::string(raw.substr(0, len));
    raw.remove_prefix(std::min(len, raw.size()));
    out.push_back(std::move(r));
  }
  if (rest) *rest = std::string(raw);
  return out;
}

struct Exchange {
  std::vector<Response> responses;
  std::string rest;     // bytes after the last whole response (none expected)
  bool closed = false;  // the server ended the connection
};

// Sends `request` on a fresh connection and reads until the server closes it (or `timeout`).
Exchange http_exchange(const ServerProcess& server, std::string_view request, ms timeout = 5s) {
  RawConnection c(server.port());
  c.send(request);  // the server may stop reading early (a header flood): that is fine
  Exchange x;
  x.closed = c.wait_closed(timeout);
  x.responses = parse_responses(c.received(), &x.rest);
  return x;
}

// ---------------------------------------------------------------------------------
// WebSocket frames built bit by bit.

struct Frame {
  bool fin = true;
  bool rsv1 = false, rsv2 = false, rsv3 = false;
  std::uint8_t opcode = 0x1;
  bool masked = true;  // RFC 6455 5.3: a client must mask every frame
  std::string payload;
  // A payload length to declare (in the 64-bit form) instead of payload.size().
  std::optional<std::uint64_t> declared_length;
};

std::string encode(const Frame& f) {
  std::string out;
  out += static_cast<char>((f.fin ? 0x80 : 0) | (f.rsv1 ? 0x40 : 0) | (f.rsv2 ? 0x20 : 0) | (f.rsv3 ? 0x10 : 0) |
                           (f.opcode & 0x0F));
  const int mask_bit = f.masked ? 0x80 : 0;
  const std::uint64_t len = f.declared_length.value_or(f.payload.size());
  if (f.declared_length || len > 0xFFFF) {
    out += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((len >> (8 * i)) & 0xFF);
  } else if (len >= 126) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>((len >> 8) & 0xFF);
    out += static_cast<char>(len & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | static_cast<int>(len));
  }
  if (!f.masked) return out + f.payload;
  static constexpr unsigned char kKey[4] = {0x37, 0xfa, 0x21, 0x3d};
  out.append(reinterpret_cast<const char*>(kKey), 4);
  for (std::size_t i = 0; i < f.payload.size(); ++i) out += static_cast<char>(f.payload[i] ^ kKey[i % 4]);
  return out;
}

std::string text_frame(std::string payload) {
  Frame f;
  f.payload = std::move(payload);
  return encode(f);
}

// Opens a connection to `path` and completes the WebSocket opening handshake; throws
// unless the server switches protocols with the accept key RFC 6455 4.2.2 derives from
// ours (its example key).
RawConnection ws_connect(const ServerProcess& server, const std::string& path) {
  RawConnection c(server.port());
  c.send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n");
  if (!c.read_until([&] { return c.received().find("\r\n\r\n") != std::string::npos; }, 10s))
    throw std::runtime_error("no answer to the upgrade of " + path);
  const auto end = c.received().find("\r\n\r\n") + 4;
  const std::string head = c.received().substr(0, end);
  if (head.rfind("HTTP/1.1 101 ", 0) != 0 || head.find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") == std::string::npos)
    throw std::runtime_error("upgrade of " + path + " refused: " + head);
  c.received().erase(0, end);
  return c;
}

struct ServerFrame {
  std::uint8_t opcode = 0;
  bool fin = false;
  bool masked = false;
  std::string payload;
};

// The whole frame at `at` in `b` (bytes the server sent); `at` moves past it.
std::optional<ServerFrame> frame_at(const std::string& b, std::size_t& at) {
  if (b.size() < at + 2) return std::nullopt;
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(b[at + i]); };
  std::size_t pos = 2;
  std::uint64_t len = byte(1) & 0x7F;
  if (len == 126) {
    if (b.size() < at + 4) return std::nullopt;
    len = (std::uint64_t{byte(2)} << 8) | byte(3);
    pos = 4;
  } else if (len == 127) {
    if (b.size() < at + 10) return std::nullopt;
    len = 0;
    for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | byte(i);
    pos = 10;
  }
  ServerFrame f;
  f.masked = (byte(1) & 0x80) != 0;
  if (f.masked) pos += 4;  // a server must not mask (checked by the caller)
  if (b.size() - at < pos || b.size() - at - pos < len) return std::nullopt;
  f.opcode = byte(0) & 0x0F;
  f.fin = (byte(0) & 0x80) != 0;
  f.payload = b.substr(at + pos, static_cast<std::size_t>(len));
  at += pos + static_cast<std::size_t>(len);
  return f;
}

// Takes one whole frame the server sent off the front of `c.received()`.
std::optional<ServerFrame> take_frame(RawConnection& c) {
  std::size_t at = 0;
  auto f = frame_at(c.received(), at);
  c.received().erase(0, at);
  return f;
}

// Whether the server's close frame is among the frames it has sent so far.
bool close_frame_arrived(const std::string& b) {
  std::size_t at = 0;
  while (auto f = frame_at(b, at))
    if (f->opcode == 0x8) return true;
  return false;
}

// How the server ended a WebSocket.
struct CloseSeen {
  int code = -1;            // its close frame's status code; 1005 when it had none; 0: the TCP
                            // connection ended with no close frame; -1: still open at the timeout
  bool tcp_closed = false;  // the TCP connection ended (after the close frame)
  bool masked = false;      // a frame from the server was masked (RFC 6455 5.1 forbids it)
};

// Reads frames until the server's close frame and then the end of the TCP connection.
CloseSeen await_close(RawConnection& c, ms timeout) {
  CloseSeen out;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    while (auto f = take_frame(c)) {
      out.masked = out.masked || f->masked;
      if (f->opcode != 0x8) continue;
      out.code = f->payload.size() >= 2
                     ? (static_cast<std::uint8_t>(f->payload[0]) << 8) | static_cast<std::uint8_t>(f->payload[1])
                     : 1005;
      out.tcp_closed = c.wait_closed(std::chrono::duration_cast<ms>(deadline - Clock::now()));
      return out;
    }
    if (c.closed()) {
      out.code = 0;
      out.tcp_closed = true;
      return out;
    }
    c.poll_read(100ms);
  }
  return out;
}

// ---------------------------------------------------------------------------------
// The server, the healthy call beside the hostile traffic, and the checks every test ends with.

// What the server's agent answers the healthy call: short, so each test's call (whose
// audio runs in real time) lasts about 2.5 s; a second line so the first does not hang up.
const std::string kReply = "Okay.";

// A phrase grammar, so the server's transcript of the healthy call is exact; the script
// agent; no greeting, so a call starts at once.
std::vector<std::string> server_args(std::vector<std::string> extra = {}) {
  static const std::string grammar =
      write_server_grammar((std::filesystem::temp_directory_path() / "vox-e2e-grammar.txt").string());
  static const std::string script = grammar_file("vox-e2e-hostile-script.txt", {kReply, "Goodbye."});
  std::vector<std::string> args = {"--stt-mode", "grammar", "--stt-grammar", grammar, "--greeting",    "",
                                   "--tts-voice", kVoice,   "--agent",       "script", "--script",     script,
                                   "--silence-ms", "300"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// A simulated caller's call (webhook, media stream, one line said and answered), run on
// its own thread from construction while the test does its hostile work.
class HealthyCall {
 public:
  explicit HealthyCall(const ServerProcess& server, std::string line = "hello there") : line_(std::move(line)) {
    sim::CallerOptions o;
    o.server_url = server.url();
    o.lines = {line_};
    o.voice = kVoice;
    result_ = std::async(std::launch::async, [o] {
      return sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 1);
    });
  }
  ~HealthyCall() {
    if (result_.valid()) result_.wait();
  }
  HealthyCall(const HealthyCall&) = delete;
  HealthyCall& operator=(const HealthyCall&) = delete;

  bool done() const { return result_.wait_for(0s) == std::future_status::ready; }

  // Waits for the call and checks it went as a call should: the server understood the
  // line exactly, the caller heard the whole reply (played to its endOfPlayback mark, as
  // long as the reply's audio), the caller hung up (the server did not cut the stream),
  // and the server ended the call for that reason.
  void expect_completed(const ServerProcess& server) {
    ASSERT_EQ(result_.wait_for(90s), std::future_status::ready) << "the healthy call never ended\n" << server.log_tail();
    const auto results = result_.get();
    ASSERT_EQ(results.size(), 1u);
    const auto& r = results[0];
    EXPECT_TRUE(r.ok) << r.error << "\n" << server.log_tail();
    EXPECT_FALSE(r.server_closed) << "the server closed the healthy call's stream, code " << r.close_code;
    EXPECT_TRUE(server.wait_for_log("caller said call_sid=" + r.call_sid + " turn=1 text=\"" + line_ + "\""))
        << server.log_tail();
    ASSERT_EQ(r.heard.size(), 1u) << server.log_tail();
    EXPECT_FALSE(r.heard[0].cleared);
    static const double reply_ms = static_cast<double>(Engines::get().tts.synthesize_blocking(kReply, kVoice).size()) / 8;
    const double heard_ms = static_cast<double>(r.heard[0].ulaw.size()) / 8;
    EXPECT_GT(heard_ms, reply_ms * 0.8) << "the reply was cut short: " << heard_ms << " of " << reply_ms << " ms";
    EXPECT_LT(heard_ms, reply_ms * 1.2 + 40) << "the reply came with more than its audio: " << heard_ms << " of " << reply_ms << " ms";
    EXPECT_TRUE(server.wait_for_log("call ended call_sid=" + r.call_sid)) << server.log_tail();
    const std::string log = server.log();
    const auto ended = log.find("call ended call_sid=" + r.call_sid);
    if (ended != std::string::npos) {
      EXPECT_NE(log.substr(ended, log.find('\n', ended) - ended).find("reason=\"stop\""), std::string::npos)
          << "the healthy call did not end by the caller's stop";
    }
  }

 private:
  std::string line_;
  std::future<std::vector<sim::CallerResult>> result_;
};

// Whether `pid` is running (not exited, not a zombie waiting to be reaped).
bool process_running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  const char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

// The resident set of `pid` in KiB (VmRSS), or -1.
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

void expect_server_up(const ServerProcess& server) {
  EXPECT_TRUE(process_running(server.pid())) << server.log_tail();
  EXPECT_EQ(http("GET", server.url() + "/health").status, 200) << server.log_tail();
}

// ---------------------------------------------------------------------------------
// The two WebSocket endpoints a stranger can reach.

enum class Endpoint { kMedia, kClient };

std::string name_of(Endpoint e) { return e == Endpoint::kMedia ? "/media" : "the client socket"; }

struct OpenSocket {
  RawConnection conn;
  std::string call_sid;  // /media: the call it carries
};

// A WebSocket opened raw on `e`, ready for hostile frames: on /media a call has started
// on it (connected and start sent, the call logged as started); on the client socket the
// server's connection_established message has arrived.
OpenSocket open_socket(const ServerProcess& server, Endpoint e) {
  if (e == Endpoint::kMedia) {
    OpenSocket s{ws_connect(server, "/media"), sim::random_sid("CA")};
    twilio::Start start;
    start.stream_sid = "MZ" + s.call_sid.substr(2);
    start.account_sid = "AC00000000000000000000000000000000";
    start.call_sid = s.call_sid;
    start.tracks = {"inbound"};
    std::string json;
    twilio::write_start(json, start, 1);
    s.conn.send(text_frame(R"({"event":"connected","protocol":"Call","version":"1.0.0"})") + text_frame(json));
    if (!server.wait_for_log("call started call_sid=" + s.call_sid))
      throw std::runtime_error("the raw media stream's call did not start\n" + server.log_tail());
    return s;
  }
  static int peer = 0;
  OpenSocket s{ws_connect(server, "/api/v1/webrtc/twilio-elevenlabs-stream/hostile-" + std::to_string(++peer) +
                                      "/any-key-123/agent-1"),
               ""};
  if (!s.conn.read_until([&] { return s.conn.received().find("connection_established") != std::string::npos; }, 10s))
    throw std::runtime_error("no connection_established on the client socket\n" + server.log_tail());
  while (take_frame(s.conn)) {
  }
  return s;
}

// Sends `hostile` on a fresh socket of each endpoint and checks that the server fails
// that connection: a close frame with `code`, then the end of the TCP connection; and, on
// /media, that the call the socket carried ends once the client closes its side too.
void expect_failed_with(const ServerProcess& server, const std::string& hostile, int code, const std::string& what) {
  for (const auto e : {Endpoint::kMedia, Endpoint::kClient}) {
    SCOPED_TRACE(what + " on " + name_of(e));
    auto s = open_socket(server, e);
    s.conn.send(hostile);  // the server may close before taking all of it
    const auto seen = await_close(s.conn, 5s);
    EXPECT_EQ(seen.code, code) << server.log_tail();
    EXPECT_TRUE(seen.tcp_closed) << "the server sent its close frame but kept the TCP connection open";
    EXPECT_FALSE(seen.masked) << "the server masked a frame";
    if (e == Endpoint::kMedia) {
      s.conn.close();
      EXPECT_TRUE(server.wait_for_log("call ended call_sid=" + s.call_sid, 5s)) << server.log_tail();
    }
  }
}

// ---------------------------------------------------------------------------------
// WebSocket framing abuse. Codes observed from Beast (1.81), the server's WebSocket:
// every protocol violation below gets a close frame with 1002 and then the TCP connection
// is shut down; a declared length over the message limit gets 1009.

TEST(HostileWire, WsReservedOpcodesFailOnlyThatSocketWith1002) {
  ServerProcess server(server_args());
  HealthyCall call(server);
  for (const std::uint8_t op : {0x3, 0xB}) {  // a reserved data opcode and a reserved control opcode
    Frame f;
    f.opcode = op;
    f.payload = "abc";
    expect_failed_with(server, encode(f), 1002, "opcode " + std::to_string(op));
  }
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, WsReservedBitsWithoutAnExtensionFailWith1002) {
  // No extension is negotiated (permessage-deflate is off), so RSV1..3 must be 0 (RFC 6455 5.2).
  ServerProcess server(server_args());
  HealthyCall call(server);
  for (int bit = 1; bit <= 3; ++bit) {
    Frame f;
    f.payload = R"({"event":"connected"})";
    f.rsv1 = bit == 1;
    f.rsv2 = bit == 2;
    f.rsv3 = bit == 3;
    expect_failed_with(server, encode(f), 1002, "RSV" + std::to_string(bit));
  }
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, WsUnmaskedClientFramesFailWith1002) {
  // RFC 6455 5.1: a server must close the connection on an unmasked client frame.
  ServerProcess server(server_args());
  HealthyCall call(server);
  Frame text;
  text.masked = false;
  text.payload = R"({"type":"ping"})";
  expect_failed_with(server, encode(text), 1002, "unmasked text frame");
  Frame ping;
  ping.opcode = 0x9;
  ping.masked = false;
  ping.payload = "are you there";
  expect_failed_with(server, encode(ping), 1002, "unmasked ping");
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, WsSixtyFourBitLengthsAtTwoToTheSixtyThirdFailWith1009) {
  // Beast compares the declared length with the message limit (1 MiB) before anything
  // else, so it answers 1009 (too big), not 1002 for 2^63 (RFC 6455 5.2 says the most
  // significant bit must be 0): either way the server allocates nothing for it and closes.
  ServerProcess server(server_args());
  HealthyCall call(server);
  const long rss_before = rss_kib(server.pid());
  for (const std::uint64_t len : {std::uint64_t{1} << 63, (std::uint64_t{1} << 63) - 1}) {
    Frame f;
    f.declared_length = len;
    f.payload = "{}";  // a few bytes of the promised exabytes
    expect_failed_with(server, encode(f), 1009, "declared length " + std::to_string(len));
  }
  EXPECT_LT(rss_kib(server.pid()) - rss_before, 64 * 1024) << "the server's memory grew after the declared lengths";
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, WsContinuationFloodIsCutAtTheMessageLimitNotBuffered) {
  // 100 000 continuation frames of 1 KiB each: 100 MB if the server kept them all. The
  // message limit is 1 MiB: the server must close with 1009 long before the end, and its
  // memory must stay bounded meanwhile. Sending stops as soon as the close frame arrives.
  ServerProcess server(server_args());
  HealthyCall call(server);
  constexpr int kFragments = 100000;
  for (const auto e : {Endpoint::kMedia, Endpoint::kClient}) {
    SCOPED_TRACE("continuation flood on " + name_of(e));
    auto s = open_socket(server, e);
    const long rss_before = rss_kib(server.pid());
    long rss_peak = rss_before;
    Frame first;
    first.fin = false;
    first.payload = std::string(1024, 'x');
    Frame cont = first;
    cont.opcode = 0x0;
    const std::string cont_bytes = encode(cont);
    bool stopped = false;
    int sent = 0;
    if (s.conn.send(encode(first))) ++sent;
    while (sent < kFragments) {
      // The server's close frame or the end of the connection stops the flood. (After its close
      // frame Beast reads on until a read finds data, then closes: a sender still sending
      // then gets a reset.)
      s.conn.poll_read(0ms);
      if (s.conn.closed() || close_frame_arrived(s.conn.received())) {
        stopped = true;
        break;
      }
      if (!s.conn.send(cont_bytes)) {  // the server closed the connection (after its close frame)
        stopped = true;
        break;
      }
      ++sent;
      if (sent % 512 == 0) rss_peak = std::max(rss_peak, rss_kib(server.pid()));
    }
    const auto seen = await_close(s.conn, 5s);
    rss_peak = std::max(rss_peak, rss_kib(server.pid()));
    EXPECT_TRUE(stopped) << "all " << sent << " fragments were taken without a word";
    EXPECT_LT(sent, kFragments) << "the server took every fragment";
    EXPECT_EQ(seen.code, 1009) << server.log_tail();
    EXPECT_TRUE(seen.tcp_closed);
    EXPECT_LT(rss_peak - rss_before, 32 * 1024) << "the server's memory grew by " << (rss_peak - rss_before) << " KiB over "
                                                << sent << " fragments";
    EXPECT_TRUE(server.wait_for_log("ws message over")) << server.log_tail();
    if (e == Endpoint::kMedia) {
      s.conn.close();
      EXPECT_TRUE(server.wait_for_log("call ended call_sid=" + s.call_sid, 5s)) << server.log_tail();
    }
  }
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, WsControlFrameOver125BytesFailsWith1002) {
  // RFC 6455 5.5: control frames carry at most 125 bytes.
  ServerProcess server(server_args());
  HealthyCall call(server);
  Frame ping;
  ping.opcode = 0x9;
  ping.payload = std::string(126, 'p');
  expect_failed_with(server, encode(ping), 1002, "126-byte ping");
  Frame close;
  close.opcode = 0x8;
  close.payload = std::string("\x03\xe8", 2) + std::string(198, 'c');
  expect_failed_with(server, encode(close), 1002, "200-byte close");
  Frame pong;
  pong.opcode = 0xA;
  pong.payload = std::string(70000, 'q');  // in the 64-bit length form
  expect_failed_with(server, encode(pong), 1002, "70000-byte pong");
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, WsFragmentedControlFrameFailsWith1002) {
  // RFC 6455 5.5: control frames must not be fragmented, alone or inside a fragmented message.
  ServerProcess server(server_args());
  HealthyCall call(server);
  Frame ping;
  ping.opcode = 0x9;
  ping.fin = false;
  ping.payload = "half a ping";
  expect_failed_with(server, encode(ping), 1002, "ping without FIN");
  Frame start;
  start.fin = false;
  start.payload = R"({"event":)";
  expect_failed_with(server, encode(start) + encode(ping), 1002, "ping without FIN inside a fragmented message");
  call.expect_completed(server);
  expect_server_up(server);
}

// A failed WebSocket's call ends even when the client keeps its end of the TCP connection
// open after the close frame: the server shuts its side down, and may not keep the call
// (and its slot under --max-calls) alive until --ws-idle-timeout for a socket it failed.
TEST(HostileWire, WsFailedSocketEndsItsCallThoughTheClientHoldsTheConnection) {
  ServerProcess server(server_args());
  HealthyCall call(server);
  auto s = open_socket(server, Endpoint::kMedia);
  Frame f;
  f.opcode = 0x3;
  s.conn.send(encode(f));
  const auto seen = await_close(s.conn, 5s);
  EXPECT_EQ(seen.code, 1002);
  EXPECT_TRUE(seen.tcp_closed);
  // The connection is still open on this side (`s` lives on).
  EXPECT_TRUE(server.wait_for_log("call ended call_sid=" + s.call_sid, 5s))
      << "the call of a WebSocket the server failed is still running\n" << server.log_tail();
  call.expect_completed(server);
  expect_server_up(server);
}

// ---------------------------------------------------------------------------------
// Slowloris: a request dribbled in byte by byte is cut off at --http-idle-timeout (a
// deadline for the whole request, not per byte), while others are served.

TEST(HostileWire, SlowlorisIsCutOffAtTheHttpTimeoutWhileOthersAreServed) {
  ServerProcess server(server_args({"--http-idle-timeout", "2"}));
  HealthyCall call(server);
  RawConnection slow(server.port());
  const auto t0 = Clock::now();
  const std::string request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n";
  std::size_t sent = 0;
  double health_ms = -1;
  while (!slow.closed() && sent < request.size() && ms_since(t0) < 15000) {
    if (!slow.send(request.substr(sent, 1))) break;
    ++sent;
    if (health_ms < 0) {  // another client, while this one dribbles
      const auto t = Clock::now();
      EXPECT_EQ(http("GET", server.url() + "/health").status, 200);
      health_ms = ms_since(t);
    }
    slow.poll_read(700ms);  // one byte every 0.7 s, or sooner if the server closes
  }
  slow.wait_closed(5s);
  const double lifetime = ms_since(t0);
  EXPECT_TRUE(slow.closed()) << "the slow connection is still open after " << lifetime << " ms";
  EXPECT_LT(sent, request.size()) << "the whole request went through";
  EXPECT_GE(lifetime, 1900) << "cut off before the 2 s limit";
  EXPECT_LE(lifetime, 2000 + 2500) << "cut off long after the 2 s limit";
  // No answer on timeout (no 408: the server closes without a word).
  EXPECT_EQ(slow.received(), "");
  EXPECT_GE(health_ms, 0);
  EXPECT_LT(health_ms, 1000) << "another client waited behind the slow one";
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, TwoHundredSlowlorisConnectionsDoNotStarveARequestOrACall) {
  ServerProcess server(server_args({"--http-idle-timeout", "2"}));
  constexpr std::size_t kSlow = 200;
  const std::string partial = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  struct Slow {
    std::unique_ptr<RawConnection> conn;
    Clock::time_point opened;
  };
  std::vector<Slow> slow(kSlow);
  std::vector<double> lifetimes;
  bool answered = true;  // none of them got an answer
  const auto open = [&](Slow& s) {
    s.conn = std::make_unique<RawConnection>(server.port());
    s.opened = Clock::now();
    s.conn->send(partial.substr(0, 8));
  };
  for (auto& s : slow) open(s);
  // With all 200 dribbling: a request is answered at once, and a call goes through.
  const auto t = Clock::now();
  EXPECT_EQ(http("GET", server.url() + "/health").status, 200);
  const double health_ms = ms_since(t);
  HealthyCall call(server);
  // Dribble a byte on each every 0.5 s; reopen those the server cuts off, so 200 stay open
  // for as long as the call lasts; then wait for the last ones to be cut off.
  auto next_drip = Clock::now() + 500ms;
  bool reopen = true;
  const auto give_up = Clock::now() + 60s;
  for (;;) {
    if (reopen && call.done()) reopen = false;
    std::vector<pollfd> fds;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < slow.size(); ++i)
      if (slow[i].conn) {
        fds.push_back({slow[i].conn->fd(), POLLIN, 0});
        which.push_back(i);
      }
    if (fds.empty() || Clock::now() > give_up) break;
    ::poll(fds.data(), fds.size(), 50);
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      auto& s = slow[which[k]];
      s.conn->poll_read(0ms);
      if (!s.conn->closed()) continue;
      lifetimes.push_back(ms_since(s.opened));
      answered = answered && s.conn->received().empty();
      s.conn.reset();
      if (reopen) open(s);
    }
    if (Clock::now() >= next_drip) {
      for (auto& s : slow)
        if (s.conn) s.conn->send("a");
      next_drip += 500ms;
    }
  }
  std::size_t still_open = 0;
  for (const auto& s : slow) still_open += s.conn ? 1 : 0;
  EXPECT_EQ(still_open, 0u) << "slow connections outlived the limit by a minute";
  EXPECT_GE(lifetimes.size(), kSlow);
  EXPECT_TRUE(answered) << "a slow connection got a response";
  const auto [shortest, longest] = std::minmax_element(lifetimes.begin(), lifetimes.end());
  if (!lifetimes.empty()) {
    EXPECT_GE(*shortest, 1900) << "a slow connection was cut off before the 2 s limit";
    EXPECT_LE(*longest, 2000 + 3000) << "a slow connection was cut off long after the 2 s limit";
  }
  EXPECT_LT(health_ms, 1000) << "a request waited behind the slow connections";
  call.expect_completed(server);
  expect_server_up(server);
}

// ---------------------------------------------------------------------------------
// Request smuggling: framing a front end and this server could read differently is
// refused with 400 and the connection closed; nothing hidden in a body is ever served.

// The request that hides in bodies below: a path the log would show if it were served.
std::string smuggled_request(const std::string& marker) {
  return "GET /smuggled-" + marker + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

// Checks that `x` is exactly one response with `status` and then the close, and that the
// hidden request tagged `marker` was never served.
void expect_one_refusal(const ServerProcess& server, const Exchange& x, int status, const std::string& marker,
                        const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(x.responses.size(), 1u) << "responses: " << x.responses.size() << "\n" << server.log_tail();
  EXPECT_EQ(x.responses[0].status, status) << x.responses[0].body;
  EXPECT_EQ(x.rest, "") << "bytes after the response";
  EXPECT_TRUE(x.closed) << "the connection stayed open";
  EXPECT_EQ(server.log().find("smuggled-" + marker), std::string::npos) << "the hidden request was served";
}

// The webhook a front end would pass on; answered 200 when the framing is sound.
const std::string kWebhookHead = "POST /twilio-voice HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n";
const std::string kWebhookBody = "CallSid=CA0123456789abcdef0123456789abcdef&From=%2B15550001111";

TEST(HostileWire, ContentLengthBesideChunkedIsRefused) {
  ServerProcess server(server_args());
  HealthyCall call(server);
  // The control: the same request with sound framing is served.
  const auto ok = http_exchange(server, kWebhookHead + "Connection: close\r\nContent-Length: " + std::to_string(kWebhookBody.size()) +
                                       "\r\n\r\n" + kWebhookBody);
  ASSERT_EQ(ok.responses.size(), 1u);
  EXPECT_EQ(ok.responses[0].status, 200) << ok.responses[0].body;
  const std::string chunked = "3e\r\n" + kWebhookBody + "\r\n0\r\n\r\n";
  ASSERT_EQ(kWebhookBody.size(), 0x3eu);
  const std::string marker = sim::random_sid("s");
  // CL.TE and TE.CL: a front end reading the other header would see the hidden request.
  expect_one_refusal(server,
                     http_exchange(server, kWebhookHead + "Content-Length: " + std::to_string(chunked.size()) +
                                          "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + smuggled_request(marker)),
                     400, marker, "Content-Length then Transfer-Encoding");
  expect_one_refusal(server,
                     http_exchange(server, kWebhookHead + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunked +
                                          smuggled_request(marker)),
                     400, marker, "Transfer-Encoding then Content-Length");
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, DifferingContentLengthsAreRefused) {
  ServerProcess server(server_args());
  HealthyCall call(server);
  const std::string marker = sim::random_sid("s");
  const std::string hidden = smuggled_request(marker);
  const std::string both = std::to_string(kWebhookBody.size()) + "\r\nContent-Length: " +
                           std::to_string(kWebhookBody.size() + hidden.size());
  expect_one_refusal(server, http_exchange(server, kWebhookHead + "Content-Length: " + both + "\r\n\r\n" + kWebhookBody + hidden),
                     400, marker, "two Content-Length headers");
  expect_one_refusal(server,
                     http_exchange(server, kWebhookHead + "Content-Length: " + std::to_string(kWebhookBody.size()) + ", " +
                                          std::to_string(kWebhookBody.size() + hidden.size()) + "\r\n\r\n" + kWebhookBody +
                                          hidden),
                     400, marker, "a Content-Length list of two values");
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, TransferEncodingNotEndingInChunkedIsRefused) {
  // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked has no
  // knowable length: 400 and close. Read as "no body", its body would be the next request.
  ServerProcess server(server_args());
  HealthyCall call(server);
  const std::string marker = sim::random_sid("s");
  const std::string hidden = smuggled_request(marker);
  expect_one_refusal(server, http_exchange(server, kWebhookHead + "Transfer-Encoding: chunked, identity\r\n\r\n" + hidden), 400,
                     marker, "chunked, identity");
  expect_one_refusal(server, http_exchange(server, kWebhookHead + "Transfer-Encoding: identity\r\n\r\n" + hidden), 400, marker,
                     "identity");
  expect_one_refusal(server,
                     http_exchange(server, kWebhookHead + "Transfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n" + hidden),
                     400, marker, "identity with a Content-Length");
  expect_one_refusal(server, http_exchange(server, kWebhookHead + "Transfer-Encoding: chunked, chunked\r\n\r\n" + hidden), 400,
                     marker, "chunked twice");
  expect_one_refusal(server,
                     http_exchange(server, kWebhookHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                                          hidden),
                     400, marker, "two Transfer-Encoding: chunked headers");
  // A coding before chunked that the server does not implement: 501 (RFC 9112 6.1).
  expect_one_refusal(server, http_exchange(server, kWebhookHead + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + hidden),
                     501, marker, "gzip, chunked");
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, ObsoleteLineFoldingIsOneHeaderNeverTwo) {
  // RFC 9112 5.2: a server must reject obs-fold with 400 or replace it with spaces. Beast
  // replaces it: the folded line belongs to the header above it, so the Content-Length
  // folded into X-Note is not a Content-Length, and what follows the headers is the next
  // request (answered 404), not a body. A server that took the folded line for a header of
  // its own would read "GET /" as the body and the rest as a garbled request (400).
  ServerProcess server(server_args());
  HealthyCall call(server);
  const std::string marker = sim::random_sid("f");
  const auto x = http_exchange(server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: a\r\n Content-Length: 5\r\n\r\n"
                                  "GET /folded-" + marker + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(x.responses.size(), 2u) << server.log_tail();
  EXPECT_EQ(x.responses[0].status, 200) << x.responses[0].body;
  EXPECT_EQ(x.responses[1].status, 404) << x.responses[1].body;
  EXPECT_TRUE(x.closed);
  // A Transfer-Encoding folded onto its own line reads as "chunked": the body is chunked.
  const auto te = http_exchange(server, kWebhookHead + "Connection: close\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3e\r\n" + kWebhookBody +
                                       "\r\n0\r\n\r\n" + smuggled_request(marker));
  ASSERT_EQ(te.responses.size(), 1u) << server.log_tail();
  EXPECT_EQ(te.responses[0].status, 200) << te.responses[0].body;
  EXPECT_TRUE(te.closed);
  EXPECT_EQ(server.log().find("smuggled-" + marker), std::string::npos) << "a request after Connection: close was served";
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, PipelinedClTeSmugglingIsRefusedAfterTheHonestRequest) {
  // An honest keep-alive request, then a CL.TE request whose chunked body ends early and
  // hides a second request: the first is answered, the second refused with 400 and the
  // connection closed; the hidden one gets no response.
  ServerProcess server(server_args());
  HealthyCall call(server);
  const std::string marker = sim::random_sid("s");
  const std::string hidden = smuggled_request(marker);
  const std::string body = "0\r\n\r\n" + hidden;
  const auto x = http_exchange(server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + kWebhookHead +
                                      "Content-Length: " + std::to_string(body.size()) +
                                      "\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
  ASSERT_EQ(x.responses.size(), 2u) << server.log_tail();
  EXPECT_EQ(x.responses[0].status, 200);
  EXPECT_EQ(x.responses[1].status, 400) << x.responses[1].body;
  EXPECT_EQ(x.rest, "");
  EXPECT_TRUE(x.closed);
  EXPECT_EQ(server.log().find("smuggled-" + marker), std::string::npos) << "the hidden request was served";
  call.expect_completed(server);
  expect_server_up(server);
}

// ---------------------------------------------------------------------------------
// Floods and traversal.

TEST(HostileWire, HeaderFloodsGet431AndCloseOnlyThatConnection) {
  ServerProcess server(server_args());
  HealthyCall call(server);
  const long rss_before = rss_kib(server.pid());
  {
    // One header of 1 MiB, written by a thread while the answer is read (the server stops
    // reading at its 16 KiB limit, so the write may fail once it closes).
    RawConnection c(server.port());
    const std::string big = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
    std::thread writer([&] { c.send(big); });
    const bool closed = c.wait_closed(10s);
    writer.join();
    std::string rest;
    const auto responses = parse_responses(c.received(), &rest);
    ASSERT_EQ(responses.size(), 1u) << c.received().substr(0, 200);
    EXPECT_EQ(responses[0].status, 431) << responses[0].body;
    EXPECT_TRUE(closed);
  }
  {
    // Thousands of headers after an honest request on the same keep-alive connection.
    std::string flood = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (int i = 0; i < 5000; ++i) flood += "X-" + std::to_string(i) + ": y\r\n";
    const auto x = http_exchange(server, flood + "\r\n");
    ASSERT_EQ(x.responses.size(), 2u) << server.log_tail();
    EXPECT_EQ(x.responses[0].status, 200);
    EXPECT_EQ(x.responses[1].status, 431) << x.responses[1].body;
    EXPECT_TRUE(x.closed);
  }
  {
    // The limit is on bytes, not on the count: 3000 tiny headers (15 KB) are served, at once.
    std::string many = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    for (int i = 0; i < 3000; ++i) many += "X:1\r\n";
    const auto t = Clock::now();
    const auto x = http_exchange(server, many + "\r\n");
    ASSERT_EQ(x.responses.size(), 1u);
    EXPECT_EQ(x.responses[0].status, 200);
    EXPECT_LT(ms_since(t), 2000);
  }
  EXPECT_LT(rss_kib(server.pid()) - rss_before, 32 * 1024) << "the server's memory grew after the header floods";
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, UrlFloodGets414) {
  // A request line over the 16 KiB header limit is a URL too long (RFC 9110 15.5.15).
  ServerProcess server(server_args());
  HealthyCall call(server);
  for (const std::string& target : {"/" + std::string(100 * 1024, 'u'), "/health?" + std::string(100 * 1024, 'q'),
                                   "/docs/" + std::string(100 * 1024, '.')}) {
    SCOPED_TRACE(target.substr(0, 8));
    const auto x = http_exchange(server, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_EQ(x.responses.size(), 1u) << server.log_tail();
    EXPECT_EQ(x.responses[0].status, 414) << x.responses[0].body;
    EXPECT_EQ(x.rest, "");
    EXPECT_TRUE(x.closed);
  }
  // The control: a long URL under the limit is served.
  const auto ok = http_exchange(server, "GET /health?" + std::string(12 * 1024, 'q') + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(ok.responses.size(), 1u);
  EXPECT_EQ(ok.responses[0].status, 200);
  call.expect_completed(server);
  expect_server_up(server);
}

TEST(HostileWire, PathTraversalFindsNoFile) {
  // The server serves no file from disk: its only assets (/docs, /openapi.json) are
  // compiled in, and route parameters never name a file. Every traversal is an unknown
  // path (404; the router does not resolve dot segments, and %2f decodes to a separator
  // before routing, so it only adds segments), and shows neither /etc/passwd nor an asset.
  ServerProcess server(server_args());
  HealthyCall call(server);
  const auto get = [&](const std::string& target) {
    return http_exchange(server, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  };
  // The controls: the assets are there, and this is how they look.
  const auto docs = get("/docs");
  ASSERT_EQ(docs.responses.size(), 1u);
  ASSERT_EQ(docs.responses[0].status, 200);
  const auto spec = get("/openapi.json");
  ASSERT_EQ(spec.responses.size(), 1u);
  ASSERT_EQ(spec.responses[0].status, 200);
  ASSERT_NE(spec.responses[0].body.find("\"openapi\""), std::string::npos);
  const std::string api = "/api/v1/elevenlabs-twilio";
  for (const std::string& prefix : {std::string(), std::string("/docs"), std::string("/openapi.json"), std::string("/static"),
                                   std::string("/console"), std::string("/health"), std::string("/media"), api,
                                   api + "/calls", api + "/calls/CA0123456789abcdef0123456789abcdef"}) {
    for (const std::string attack : {"/../../etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
                                     "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/..%252f..%252fetc%252fpasswd", "/....//....//etc/passwd",
                                     "/..\\..\\etc\\passwd", "/%2e%2e", "/.%2e/.%2e/etc/passwd", "//etc/passwd",
                                     "/%00../../etc/passwd"}) {
      const std::string target = prefix + attack;
      SCOPED_TRACE(target);
      const auto x = get(target);
      ASSERT_EQ(x.responses.size(), 1u) << server.log_tail();
      const auto& r = x.responses[0];
      EXPECT_EQ(r.status, 404) << r.body;
      EXPECT_EQ(r.body.find("root:"), std::string::npos) << r.body;
      EXPECT_EQ(r.body.find("\"openapi\""), std::string::npos) << "an asset answered a traversal";
      EXPECT_NE(r.body, docs.responses[0].body) << "an asset answered a traversal";
      EXPECT_TRUE(x.closed);
    }
  }
  // Upgrades to traversal paths are refused as unknown WebSocket endpoints.
  for (const std::string target : {"/media/../media", "/media/..%2f..%2fetc%2fpasswd",
                                   "/api/v1/webrtc/twilio-elevenlabs-stream/..%2f..%2f..%2fetc%2fpasswd/any-key-123/agent-1"}) {
    SCOPED_TRACE(target);
    EXPECT_THROW(ws_connect(server, target), std::runtime_error);
  }
  call.expect_completed(server);
  expect_server_up(server);
}

// ---------------------------------------------------------------------------------
// Numbers at the edges of JSON in media messages: as JSON numbers (hostile_test.cpp sends
// most of its timestamps as strings, and sequence numbers only as strings), for the
// sequence number, the chunk and the timestamp alike.

TEST(HostileWire, MediaNumbersAtTheEdgesOfJsonAreReadAsAbsent) {
  const TempDir rec;
  ServerProcess server(server_args({"--recording-dir", rec.path.string()}));
  HealthyCall call(server);
  const std::string sid = sim::random_sid("CA");
  const std::string stream_sid = "MZ" + sid.substr(2);
  const auto t0 = Clock::now();
  int frames = 0;
  {
    MediaSocket m(server, sid);
    ASSERT_TRUE(server.wait_for_log("call started call_sid=" + sid)) << server.log_tail();
    std::string payload;
    base64::append(payload, std::vector<std::uint8_t>(160, 0xFF));
    int seq = 1;
    const auto media = [&](const std::string& sequence, const std::string& chunk, const std::string& timestamp) {
      m.send(R"({"event":"media","sequenceNumber":)" + sequence + R"(,"streamSid":")" + stream_sid +
             R"(","media":{"track":"inbound","chunk":)" + chunk + R"(,"timestamp":)" + timestamp + R"(,"payload":")" +
             payload + "\"}}");
      ++frames;
    };
    const auto honest = [&](int ts) { media("\"" + std::to_string(++seq) + "\"", "\"1\"", "\"" + std::to_string(ts) + "\""); };
    honest(0);
    // One bad field of each kind first (the first complaints are logged, later ones counted).
    media("9223372036854775808", "\"2\"", "\"20\"");
    media("\"4\"", "-9223372036854775809", "\"40\"");
    media("\"5\"", "\"3\"", "-0.0");
    const std::vector<std::string> edges = {
        // JSON numbers: int64 and uint64 edges, beyond them (doubles), negative zero, huge
        // and tiny exponents, doubles that are whole numbers, just over the limits.
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "-0", "-0.0", "0.0", "1e308", "-1e308", "1E+308", "4e1",
        "1e-400", "1e999", "-1e999", "9007199254740993", "86400001", "99999999999999999999999999999",
        // The same as strings, and strings from_chars must not half-read.
        "\"9223372036854775808\"", "\"-9223372036854775809\"", "\"18446744073709551616\"", "\"-0\"", "\"+40\"",
        "\" 40\"", "\"40 \"", "\"0x28\"", "\"4e1\"", "\"1e999\"", "\"Infinity\"", "\"-Infinity\"", "\"nan\"",
        "\"\"", "\"99999999999999999999999999999\"",
        // Not JSON at all: the message is dropped whole.
        "NaN", "Infinity", "-Infinity", "+1", "01", "0x10", "1e", "-",
        // At the limits, accepted: 2^53 (sequence numbers and chunks), 24 h (timestamps).
        "9007199254740992", "86400000", "\"86400000\""};
    for (const auto& v : edges) {
      media(v, "\"1\"", "\"" + std::to_string(20 * frames) + "\"");
      media("\"" + std::to_string(++seq) + "\"", v, "\"" + std::to_string(20 * frames) + "\"");
      media("\"" + std::to_string(++seq) + "\"", "\"1\"", v);
    }
    honest(20 * frames);
    m.dtmf("\"5\"");
    // The stream is alive after all of it: the last message was read and acted on.
    ASSERT_TRUE(server.wait_for_log("dtmf call_sid=" + sid + " digit=5")) << server.log_tail();
    m.stop();
    ASSERT_TRUE(m.wait_closed(10s));
  }
  const double call_ms = ms_since(t0);
  const std::string log = server.log();
  for (const char* field : {"sequenceNumber is not a number in its range", "media.chunk is not a number in its range",
                            "media.timestamp is not a number in its range", "malformed JSON"})
    EXPECT_NE(log.find(field), std::string::npos) << "not reported: " << field << "\n" << server.log_tail();
  ASSERT_TRUE(server.wait_for_log("recording written call_sid=" + sid)) << server.log_tail();
  // The recording holds the frames as they came, not a day of padding for the 24 h
  // timestamp nor anything for the others: no longer than the call plus the recorder's
  // 2 s of lead.
  const auto wav = audio::read_wav((rec.path / (sid + ".wav")).string());
  ASSERT_TRUE(wav.has_value());
  EXPECT_LE(static_cast<double>(wav->samples.size()) / 8.0, call_ms + 3000)
      << "the recording is " << wav->samples.size() / 8 << " ms long after " << frames << " frames in " << call_ms << " ms";
  call.expect_completed(server);
  expect_server_up(server);
}

}  // namespace
}  // namespace vox::test
