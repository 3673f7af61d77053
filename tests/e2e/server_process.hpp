#pragma once
// Runs the real `voxbridge serve` binary on a free loopback port for a test.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/services.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace vox::test {

// Starts the voxbridge binary with `args` (the subcommand first) in `dir`, stdout and
// stderr going to `log_path`, with the test's environment (less the variables `drop`
// rejects) plus `env` (NAME=value). SIGINT and SIGTERM are at their defaults and
// unblocked in the child, whatever the test runner set. Returns its pid; throws when it
// cannot be started.
// The voxbridge binary the tests run: VOX_TEST_BINARY when set (CI runs these tests
// against the ThreadSanitizer build of the server), else the one built beside them.
inline const char* voxbridge_binary() {
  const char* override = std::getenv("VOX_TEST_BINARY");
  return override && *override ? override : VOX_BINARY;
}

inline pid_t spawn_voxbridge(const std::vector<std::string>& args, const std::vector<std::string>& env,
                             const std::filesystem::path& dir, const std::string& log_path,
                             const std::function<bool(std::string_view)>& drop = {}) {
  std::vector<std::string> argv = {voxbridge_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e)
    if (!drop || !drop(*e)) envs.emplace_back(*e);
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cenv;
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  return spawn_logged(argv, cenv.data(), dir.string(), log_path, false);
}

class ServerProcess {
 public:
  // Starts the server with `args` after `serve`; waits until it is listening.
  // `env` adds NAME=value pairs to the environment; `dotenv` is written as the .env file
  // of the server's working directory.
  // `command` is the subcommand run (e.g. {"emulate", "elevenlabs"}); it must accept
  // --host, --port, --port-file and --log-level.
  explicit ServerProcess(std::vector<std::string> args, std::vector<std::string> env = {}, std::string dotenv = {},
                         std::vector<std::string> command = {"serve"}) {
    dir_ = std::filesystem::temp_directory_path() / ("vox-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    // A directory of that name may be left by a killed run of a process with the same pid:
    // its port file would be read as this server's before it listens.
    std::error_code stale;
    std::filesystem::remove_all(dir_, stale);
    std::filesystem::create_directories(dir_);
    if (!dotenv.empty()) std::ofstream(dir_ / ".env") << dotenv;
    const std::string port_file = (dir_ / "port").string();
    log_path_ = (dir_ / "server.log").string();
    std::vector<std::string> argv = command;
    for (const char* a : {"--host", "127.0.0.1", "--port", "0", "--port-file"}) argv.emplace_back(a);
    argv.push_back(port_file);
    argv.emplace_back("--log-level");
    argv.emplace_back("debug");
    argv.insert(argv.end(), args.begin(), args.end());
    // Overload control stays off unless a test asks for it: sanitizer builds on a busy CI
    // machine lag past any production threshold, and a test about something else must not
    // have its calls refused (an explicit --shed-lag-ms or SHED_LAG_MS wins).
    bool shed_set = false;
    for (const auto& e : env) shed_set = shed_set || e.rfind("SHED_LAG_MS=", 0) == 0;
    if (!shed_set) env.emplace_back("SHED_LAG_MS=0");
    // In its own directory, which holds only the .env written above.
    pid_ = spawn_voxbridge(argv, env, dir_, log_path_);
    if (!command.empty() && command[0] == "serve") secrets_ = secrets_of(args, env, dotenv);

    // Wait for the port file (the server writes it once it is listening) or for an early exit.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto code = poll_exit()) throw std::runtime_error("server exited early with " + std::to_string(*code) + ":\n" + log());
      std::ifstream in(port_file);
      if (in >> port_ && port_ > 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling for an event, bounded by the deadline
    }
    throw std::runtime_error("server did not start listening within 60 s:\n" + log());
  }

  // Stops the server with SIGTERM and checks that it exits cleanly (code 0; under
  // ASan that also means no leak was found), so every test checks shutdown too.
  ~ServerProcess() {
    if (!exit_code_) {
      const auto code = signal_and_wait(SIGTERM, std::chrono::seconds(20));
      if (!code) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        ADD_FAILURE() << "server did not exit within 20 s of SIGTERM\n" << log_tail();
      } else if (*code != 0) {
        ADD_FAILURE() << "server exited with " << *code << " after SIGTERM\n" << log_tail();
      }
    }
    // No secret the server was given may reach its log, whatever the test did; and every
    // coroutine of the server ended before it exited (none was cut off by the deadline).
    const std::string l = log();
    if (l.find("operations still pending at exit") != std::string::npos)
      ADD_FAILURE() << "the server exited with operations still pending:\n" << log_tail();
    for (const auto& secret : secrets_)
      if (l.find(secret) != std::string::npos)
        ADD_FAILURE() << "a configured secret (" << secret.substr(0, 3) << "...) appears in the server log:\n" << log_tail();
    std::error_code ec;
    if (!::getenv("VOX_KEEP_TEST_DIRS")) std::filesystem::remove_all(dir_, ec);
  }

  // The secrets among a server's flags, environment and .env: API keys (the key part of
  // tenant:key), tokens and secrets. Values under 6 characters are too short to search for.
  static std::vector<std::string> secrets_of(const std::vector<std::string>& args, const std::vector<std::string>& env,
                                             const std::string& dotenv) {
    static const std::vector<std::string> flags = {"--api-key",         "--twilio-auth-token", "--elevenlabs-api-key",
                                                   "--generate-api-key", "--agent-webhook-secret", "--metrics-token",
                                                   "--twilio-api-secret", "--llm-api-key"};
    static const std::vector<std::string> vars = {"VOX_API_KEYS",       "TWILIO_AUTH_TOKEN", "ELEVENLABS_API_KEY",
                                                  "API_KEY",            "AGENT_WEBHOOK_SECRET", "METRICS_TOKEN",
                                                  "TWILIO_API_SECRET",  "LLM_API_KEY",         "OPENAI_API_KEY"};
    std::vector<std::string> values;
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
      for (const auto& f : flags)
        if (args[i] == f) values.push_back(args[i + 1]);
    std::vector<std::string> pairs = env;
    std::istringstream lines(dotenv);
    for (std::string line; std::getline(lines, line);) pairs.push_back(line);
    for (const auto& p : pairs)
      for (const auto& v : vars)
        if (p.rfind(v + "=", 0) == 0) values.push_back(p.substr(v.size() + 1));
    std::vector<std::string> out;
    for (const auto& v : values) {
      // "tenant:key,tenant2:key2" lists: keep the keys.
      std::istringstream items(v);
      for (std::string item; std::getline(items, item, ',');) {
        const auto colon = item.find(':');
        std::string secret = colon == std::string::npos ? item : item.substr(colon + 1);
        if (secret.size() >= 6) out.push_back(secret);
      }
    }
    return out;
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  // Sends `sig`; returns the exit code once the process exits, or nullopt after `timeout`.
  std::optional<int> signal_and_wait(int sig, std::chrono::milliseconds timeout) {
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto code = poll_exit()) return code;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
  }

  // Waits until the server log contains `text`; returns whether it did within `timeout`.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (log().find(text) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::string log_tail(std::size_t bytes = 6000) const {
    const std::string l = log();
    return l.size() > bytes ? l.substr(l.size() - bytes) : l;
  }

  std::string log() const {
    std::ifstream in(log_path_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  std::optional<int> poll_exit() {
    if (exit_code_) return exit_code_;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_;
  }
  static int& counter() {
    static int c = 0;
    return c;
  }

  std::filesystem::path dir_;
  std::string log_path_;
  pid_t pid_ = 0;
  int port_ = 0;
  std::optional<int> exit_code_;
  std::vector<std::string> secrets_;
};

}  // namespace vox::test
