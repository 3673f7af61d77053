#pragma once
// Shared pieces of the end-to-end tests: engines for the simulated caller, the
// phrases both sides recognise, and helpers to run coroutines and HTTP requests.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "net/client.hpp"
#include "server_process.hpp"
#include "sim/caller.hpp"
#include "sim/sid.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/sphinx_stt.hpp"

namespace vox::test {

// The espeak-ng voice both sides speak with in tests. The "Alex" variant has no pitch
// flutter; the default voice's flutter phase carries over from one synthesis to the
// next, so the same text sounds a little different every time, which is enough to tip
// pocketsphinx on some phrases.
inline const std::string kVoice = "en-us+Alex";

// Distinct phrases the simulated callers say; the server's grammar holds them all.
// Each was recognised in 6 of 6 repeats with kVoice, both as the caller says it
// (through our VAD and endpointing) and as "You said: <phrase>" heard back; a few
// candidates were not (e.g. "see you tomorrow", "i need to speak to someone") and were
// left out. With kVoice the results repeat run after run.
inline const std::vector<std::string>& caller_phrases() {
  static const std::vector<std::string> p = {
      "hello there",
      "good morning",
      "what time is it",
      "please call me back",
      "i would like to book a table",
      "can you hear me",
      "my order has not arrived",
      "thank you very much",
      "i want to cancel my subscription",
      "is the store open on sunday",
      "what is your name",
      "i forgot my password",
      "the package is damaged",
      "that sounds great",
      "i am running late",
      "let me think about it",
      "it is raining outside",
      "where is my car",
      "please send me a letter",
      "open the door",
      "turn off the lights",
      "how much does it cost",
      "i would like some coffee",
  };
  return p;
}

inline const std::string kGreeting = "Hello and welcome. Please say something.";
inline const std::string kLongGreeting =
    "Hello and welcome. This is a long announcement about our opening hours, our prices and our "
    "many services, and it goes on for quite a while so that you can interrupt it at any time.";

// Everything the caller may hear: greetings and "you said <phrase>".
inline std::vector<std::string> heard_phrases() {
  std::vector<std::string> out = {kGreeting, kLongGreeting};
  for (const auto& p : caller_phrases()) out.push_back("you said " + p);
  return out;
}

// Writes `lines` to a temporary file named `name`, unique to this process (tests run in
// parallel); returns its path.
// This test process's directory for the files it hands to servers; removed with
// everything in it when the process exits.
inline const std::filesystem::path& process_temp_dir() {
  struct Dir {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("vox-e2e-files-" + std::to_string(::getpid()));
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Writes `lines` to a file named `name` in process_temp_dir(); returns its path.
inline std::string grammar_file(const std::string& name, const std::vector<std::string>& lines) {
  const auto path = (process_temp_dir() / name).string();
  std::ofstream out(path);
  for (const auto& l : lines) out << l << "\n";
  return path;
}

// Writes the server's phrase list to a temporary file named like `path`; returns its path.
inline std::string write_server_grammar(const std::string& path) {
  return grammar_file(std::filesystem::path(path).filename().string(), caller_phrases());
}

struct Engines {
  speech::EspeakTts tts{speech::EspeakSettings{}};
  speech::PocketsphinxStt stt{[] {
                                speech::SphinxSettings s;
                                s.mode = "grammar";
                                return s;
                              }(),
                              heard_phrases(), 2};
  static Engines& get() {
    static Engines e;
    return e;
  }
};

// Runs a coroutine to completion on a private io_context and returns its value.
template <typename F>
auto run_io(F&& make, int threads = 1) {
  boost::asio::io_context ioc;
  auto fut = boost::asio::co_spawn(ioc, make(), boost::asio::use_future);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return fut.get();
}

// An io_context on its own thread that outlives several coroutines (e.g. a socket
// opened in one step and used in a later one).
class IoThread {
 public:
  IoThread() : guard_(boost::asio::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
  ~IoThread() {
    guard_.reset();
    ioc_.stop();
    thread_.join();
  }
  // Runs the coroutine made by `make` on the thread and returns its value.
  template <typename F>
  auto run(F&& make) {
    return boost::asio::co_spawn(ioc_, make(), boost::asio::use_future).get();
  }
  boost::asio::io_context& context() { return ioc_; }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

inline net::HttpResponse http(std::string method, std::string url, std::string body = {}, net::Headers headers = {}) {
  return run_io([&]() { return net::http_request(method, url, headers, body); });
}

// Polls `probe` every 50 ms until it returns true; false once `timeout` has passed.
template <typename F>
bool eventually(F probe, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (probe()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling for an event, bounded by the deadline
  }
}

// Returns /health's active_calls.
inline int active_calls(const ServerProcess& server) {
  auto res = http("GET", server.url() + "/health");
  return static_cast<int>(boost::json::parse(res.body).at("active_calls").as_int64());
}

// Polls /health until `n` calls are active; returns false if `timeout` passes first.
inline bool wait_active_calls(const ServerProcess& server, int n, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (active_calls(server) == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A temporary directory, removed with everything in it when the test ends.
struct TempDir {
  TempDir()
      : path(std::filesystem::temp_directory_path() /
             ("vox-e2e-dir-" + std::to_string(::getpid()) + "-" + sim::random_sid("d"))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path path;
};

inline std::string normalized(const std::string& s) { return speech::PocketsphinxStt::normalize(s); }

}  // namespace vox::test
