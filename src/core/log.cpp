#include "core/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <vector>

namespace vox {
namespace {

std::mutex secrets_mu;
std::vector<std::string> secrets;  // guarded by secrets_mu

bool needs_escape(unsigned char c) { return c < 0x20 || c == 0x7f; }

void escape_into(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (!needs_escape(c)) {
      out.push_back(ch);
      continue;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\x";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
}

// Wraps the terminal sink: rewrites each record's message before it is formatted.
class SafeSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit SafeSink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    safe_ = log_safe(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(safe_.data(), safe_.size());
    inner_->log(copy);
  }
  void flush_() override { inner_->flush(); }
  void set_pattern_(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> f) override { inner_->set_formatter(std::move(f)); }

 private:
  spdlog::sink_ptr inner_;
  std::string safe_;  // guarded by the base sink's mutex
};

}  // namespace

std::string log_safe(std::string_view text) {
  std::string out;
  bool plain = true;
  for (const char ch : text) plain = plain && !needs_escape(static_cast<unsigned char>(ch));
  if (plain) out.assign(text);
  else escape_into(out, text);
  std::lock_guard lock(secrets_mu);
  for (const auto& s : secrets) {
    for (auto at = out.find(s); at != std::string::npos; at = out.find(s, at + 3)) out.replace(at, s.size(), "***");
  }
  return out;
}

void redact_in_logs(std::string secret) {
  if (secret.size() < 6) return;
  std::lock_guard lock(secrets_mu);
  for (const auto& s : secrets)
    if (s == secret) return;
  secrets.push_back(std::move(secret));
}

void setup_logging(const std::string& level) {
  auto inner = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto sink = std::make_shared<SafeSink>(std::move(inner));
  auto logger = std::make_shared<spdlog::logger>("voxbridge", sink);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::warn);
}

}  // namespace vox
