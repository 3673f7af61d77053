#pragma once
// A client WebSocket for the end-to-end tests, on its own I/O thread: every message it
// receives is kept as a JSON object, and the test waits for the ones it wants with a
// deadline. Small JSON helpers and message predicates come with it.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base64.hpp"
#include "e2e_support.hpp"

namespace vox::test::ws {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------
// Small JSON helpers (never throw: a missing field reads as empty).

inline std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

inline bool flag(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

inline double number(const json::object& o, std::string_view key, double fallback = -1) {
  const auto* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<double>() : fallback;
}

inline json::object obj(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : json::object();
}

inline json::object parse_obj(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return !ec && v.is_object() ? v.as_object() : json::object();
}

inline std::string type_of(const json::object& o) { return str(o, "type"); }

using Pred = std::function<bool(const json::object&)>;

inline Pred type_is(std::string type) {
  return [type = std::move(type)](const json::object& o) { return type_of(o) == type; };
}
inline Pred any_type(std::vector<std::string> types) {
  return [types = std::move(types)](const json::object& o) {
    for (const auto& t : types)
      if (type_of(o) == t) return true;
    return false;
  };
}
inline Pred response_to(std::string action) {
  return [action = std::move(action)](const json::object& o) {
    return type_of(o) == "control_response" && str(o, "action") == action;
  };
}
inline Pred with_text(std::string type, std::string text) {
  return [type = std::move(type), text = std::move(text)](const json::object& o) {
    return type_of(o) == type && str(o, "text") == text;
  };
}

// Bytes of an `audio` message's base64 data, or nullopt when it is not valid base64.
inline std::optional<std::size_t> audio_bytes(const json::object& audio) {
  const std::string data = str(audio, "data");
  std::vector<std::uint8_t> buf(base64::max_decoded_size(data.size()) + 3);
  return base64::decode(data, buf);
}

inline std::chrono::milliseconds remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? left : 0ms;
}

// ---------------------------------------------------------------------------------
// A client WebSocket on its own I/O thread. Every message received is kept (as a JSON
// object); the test thread waits for the ones it wants with a deadline.
class Ws {
 public:
  // Connects; throws (net::TransportError, whose text carries the HTTP status) when the
  // upgrade is refused.
  explicit Ws(const std::string& url, net::Headers headers = {}) : st_(std::make_shared<State>()) {
    st_->client = io_.run([&]() { return net::WsClient::connect(url, headers); });
    asio::co_spawn(io_.context(), read_loop(st_), asio::detached);
  }

  ~Ws() {
    close();
    if (!wait_closed(5s)) {
      abort();
      wait_closed(5s);
    }
    // Drop the connection on its own thread.
    std::promise<void> done;
    auto st = st_;
    asio::post(io_.context(), [st, &done] {
      st->client.reset();
      done.set_value();
    });
    done.get_future().wait();
  }

  Ws(const Ws&) = delete;
  Ws& operator=(const Ws&) = delete;

  void send_raw(std::string text) {
    auto c = st_->client;
    asio::post(c->executor(), [c, text = std::move(text)]() mutable { c->send(std::move(text)); });
  }
  void send(const json::object& o) { send_raw(json::serialize(o)); }
  void send_binary(std::string bytes) {
    auto c = st_->client;
    asio::post(c->executor(), [c, bytes = std::move(bytes)] { c->send_binary_copy(bytes); });
  }
  void say(const std::string& text) { send(json::object{{"type", "text"}, {"text", text}}); }
  void control(const std::string& action, json::object extra = {}) {
    extra["type"] = "control";
    extra["action"] = action;
    send(extra);
  }
  void close() {
    auto c = st_->client;
    asio::post(c->executor(), [c] { c->close(); });
  }
  void abort() {
    auto c = st_->client;
    asio::post(c->executor(), [c] { c->abort(); });
  }

  // The next message (after the last one next() returned) that matches `pred`; nullopt
  // when the socket closes or `timeout` passes first.
  std::optional<json::object> next(const Pred& pred, std::chrono::milliseconds timeout = 30s) {
    return wait(pred, timeout, true);
  }
  // The first message received so far or later that matches `pred` (next()'s position
  // is left alone).
  std::optional<json::object> find(const Pred& pred, std::chrono::milliseconds timeout = 30s) {
    return wait(pred, timeout, false);
  }

  std::vector<json::object> messages() const {
    std::lock_guard lock(st_->mu);
    return st_->messages;
  }
  std::size_t count(const Pred& pred) const {
    std::lock_guard lock(st_->mu);
    std::size_t n = 0;
    for (const auto& m : st_->messages) n += pred(m) ? 1 : 0;
    return n;
  }
  // The close code the server sent (valid once closed).
  int close_code() const { return st_->client->close_code(); }
  bool wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(st_->mu);
    return st_->cv.wait_for(lock, timeout, [&] { return st_->closed; });
  }

  // Everything received, one message a line (audio data elided), for failure messages.
  std::string dump() const {
    std::lock_guard lock(st_->mu);
    std::string out;
    for (auto m : st_->messages) {
      if (m.contains("data")) {
        const std::string note = "<" + std::to_string(str(m, "data").size()) + " base64 chars>";
        m["data"] = json::string_view(note);
      }
      out += json::serialize(m) + "\n";
    }
    if (st_->closed) out += "<closed>\n";
    return out.size() > 12000 ? "..." + out.substr(out.size() - 12000) : out;
  }

 private:
  struct State {
    std::shared_ptr<net::WsClient> client;
    mutable std::mutex mu;
    std::condition_variable cv;
    std::vector<json::object> messages;
    bool closed = false;
  };

  static asio::awaitable<void> read_loop(std::shared_ptr<State> st) {
    auto c = st->client;
    for (;;) {
      auto text = co_await c->read();
      if (!text) break;
      json::object o = parse_obj(*text);
      if (o.empty()) o = json::object{{"type", "<not a JSON object>"}, {"raw", *text}};
      {
        std::lock_guard lock(st->mu);
        st->messages.push_back(std::move(o));
      }
      st->cv.notify_all();
    }
    {
      std::lock_guard lock(st->mu);
      st->closed = true;
    }
    st->cv.notify_all();
  }

  std::optional<json::object> wait(const Pred& pred, std::chrono::milliseconds timeout, bool advance) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(st_->mu);
    std::size_t i = advance ? cursor_ : 0;
    for (;;) {
      for (; i < st_->messages.size(); ++i) {
        if (pred(st_->messages[i])) {
          if (advance) cursor_ = i + 1;
          return st_->messages[i];
        }
      }
      if (st_->closed || Clock::now() >= deadline) return std::nullopt;
      st_->cv.wait_until(lock, deadline);
    }
  }

  IoThread io_;
  std::shared_ptr<State> st_;
  std::size_t cursor_ = 0;
};

}  // namespace vox::test::ws
