#pragma once
// A hand-driven Twilio media socket for tests that need to send what no well-behaved
// Twilio would (forged timestamps, odd digits, marks never echoed): it connects to
// /media, sends `connected` and `start`, and keeps every message the server sends.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "e2e_support.hpp"
#include "twilio/media_messages.hpp"

namespace vox::test {

class MediaSocket {
 public:
  // Connects to `server`'s /media and starts a stream for `call_sid` (with `parameters`
  // as its <Parameter>s); throws when the upgrade is refused.
  MediaSocket(const ServerProcess& server, std::string call_sid, std::map<std::string, std::string> parameters = {})
      : st_(std::make_shared<State>()), call_sid_(std::move(call_sid)) {
    stream_sid_ = "MZ" + (call_sid_.size() > 2 ? call_sid_.substr(2) : call_sid_);
    const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/media";
    st_->client = io_.run([&]() { return net::WsClient::connect(url); });
    boost::asio::co_spawn(io_.context(), read_loop(st_), boost::asio::detached);
    send(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
    twilio::Start s;
    s.stream_sid = stream_sid_;
    s.account_sid = "AC00000000000000000000000000000000";
    s.call_sid = call_sid_;
    s.tracks = {"inbound"};
    s.custom_parameters = std::move(parameters);
    std::string start;
    twilio::write_start(start, s, ++sequence_);
    send(std::move(start));
  }

  ~MediaSocket() {
    auto st = st_;
    std::promise<void> done;
    boost::asio::post(io_.context(), [st, &done] {
      if (st->client) st->client->abort();
      st->client.reset();
      done.set_value();
    });
    done.get_future().wait();
  }

  MediaSocket(const MediaSocket&) = delete;
  MediaSocket& operator=(const MediaSocket&) = delete;

  void send(std::string text) {
    auto st = st_;
    boost::asio::post(io_.context(), [st, text = std::move(text)]() mutable {
      if (st->client) st->client->send(std::move(text));
    });
  }

  // Sends one `media` message of `ulaw` stamped `timestamp` (a JSON value's text, e.g.
  // "\"40\"" or "1e308").
  void media(const std::vector<std::uint8_t>& ulaw, const std::string& timestamp) {
    std::string payload;
    base64::append(payload, ulaw);
    send(R"({"event":"media","sequenceNumber":")" + std::to_string(++sequence_) + R"(","streamSid":")" + stream_sid_ +
         R"(","media":{"track":"inbound","chunk":"1","timestamp":)" + timestamp + R"(,"payload":")" + payload + "\"}}");
  }

  // Streams `ms` of silence in real time as 20 ms frames from media time `from_ms`
  // (frames go out when their time comes, as Twilio sends them).
  void silence(int from_ms, int ms) {
    auto st = st_;
    auto seq = &sequence_;
    const std::string sid = stream_sid_;
    io_.run([st, seq, sid, from_ms, ms]() -> boost::asio::awaitable<void> {
      boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
      const auto start = std::chrono::steady_clock::now();
      const std::vector<std::uint8_t> frame(160, 0xFF);
      std::string payload;
      base64::append(payload, frame);
      for (int at = 0; at < ms; at += 20) {
        t.expires_at(start + std::chrono::milliseconds(at));
        co_await t.async_wait(boost::asio::use_awaitable);
        if (!st->client) co_return;
        st->client->send(R"({"event":"media","sequenceNumber":")" + std::to_string(++*seq) + R"(","streamSid":")" +
                         sid + R"(","media":{"track":"inbound","chunk":"1","timestamp":")" +
                         std::to_string(from_ms + at) + R"(","payload":")" + payload + "\"}}");
        {
          std::lock_guard lock(st->mu);
          if (st->closed) co_return;
        }
      }
    });
  }

  void dtmf(const std::string& digit_json) {
    send(R"({"event":"dtmf","sequenceNumber":")" + std::to_string(++sequence_) + R"(","streamSid":")" + stream_sid_ +
         R"(","dtmf":{"track":"inbound_track","digit":)" + digit_json + "}}");
  }
  void mark_echo(const std::string& name_json) {
    send(R"({"event":"mark","sequenceNumber":")" + std::to_string(++sequence_) + R"(","streamSid":")" + stream_sid_ +
         R"(","mark":{"name":)" + name_json + "}}");
  }
  void stop() {
    send(R"({"event":"stop","sequenceNumber":")" + std::to_string(++sequence_) + R"(","streamSid":")" + stream_sid_ +
         R"(","stop":{"accountSid":"AC00000000000000000000000000000000","callSid":")" + call_sid_ + "\"}}");
  }

  // Waits until the server closes the socket; returns false when `timeout` passes first.
  bool wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(st_->mu);
    return st_->cv.wait_for(lock, timeout, [&] { return st_->closed; });
  }
  // Waits until the server has sent at least `n` messages whose "event" is `event`.
  bool wait_events(const std::string& event, std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(st_->mu);
    return st_->cv.wait_for(lock, timeout, [&] { return count_locked(event) >= n || st_->closed; }) &&
           count_locked(event) >= n;
  }
  std::size_t count(const std::string& event) const {
    std::lock_guard lock(st_->mu);
    return count_locked(event);
  }
  int close_code() const {
    std::lock_guard lock(st_->mu);
    return st_->close_code;
  }
  const std::string& call_sid() const { return call_sid_; }

 private:
  struct State {
    std::shared_ptr<net::WsClient> client;
    mutable std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> events;
    bool closed = false;
    int close_code = 0;
  };

  std::size_t count_locked(const std::string& event) const {
    std::size_t n = 0;
    for (const auto& e : st_->events) n += e == event ? 1 : 0;
    return n;
  }

  static boost::asio::awaitable<void> read_loop(std::shared_ptr<State> st) {
    for (;;) {
      auto c = st->client;
      if (!c) break;
      auto msg = co_await c->read();
      if (!msg) {
        std::lock_guard lock(st->mu);
        st->close_code = c->close_code();
        break;
      }
      boost::system::error_code ec;
      auto v = boost::json::parse(*msg, ec);
      std::string event;
      if (!ec && v.is_object())
        if (const auto* e = v.as_object().if_contains("event"); e && e->is_string()) event = std::string(e->as_string());
      std::lock_guard lock(st->mu);
      st->events.push_back(std::move(event));
      st->cv.notify_all();
    }
    std::lock_guard lock(st->mu);
    st->closed = true;
    st->cv.notify_all();
  }

  IoThread io_;
  std::shared_ptr<State> st_;
  std::string call_sid_;
  std::string stream_sid_;
  std::int64_t sequence_ = 0;
};

}  // namespace vox::test
