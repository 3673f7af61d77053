#pragma once
// A customer's webhook agent for the end-to-end tests: an HTTP server on its own thread.
#include <boost/json.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "e2e_support.hpp"
#include "net/router.hpp"
#include "net/server.hpp"

namespace vox::test {

// The customer's agent: answers every POST /agent with {"text": `answer`} and keeps
// what it was sent.
class WebhookApp {
 public:
  struct Request {
    std::string body;
    std::string signature;  // X-Voxbridge-Signature ("" when absent)
    std::string content_type;
  };

  explicit WebhookApp(std::string answer) : answer_(std::move(answer)) {
    net::Router router;
    router.add("POST", "/agent", [this](const net::HttpRequest& req) -> boost::asio::awaitable<net::HttpResponse> {
      std::string text;
      {
        std::lock_guard lock(mu_);
        Request r;
        r.body = req.body;
        r.signature = std::string(req.header("X-Voxbridge-Signature"));
        r.content_type = std::string(req.header("Content-Type"));
        requests_.push_back(std::move(r));
        text = answer_;
      }
      boost::json::object o;
      o["text"] = text;
      o["hangup"] = false;
      co_return net::HttpResponse::json(200, boost::json::serialize(o));
    });
    server_ = std::make_unique<net::Server>(io_.context(), std::move(router), net::ServerLimits{});
    port_ = server_->listen("127.0.0.1", 0);
  }
  ~WebhookApp() { server_->shutdown(); }
  WebhookApp(const WebhookApp&) = delete;
  WebhookApp& operator=(const WebhookApp&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/agent"; }
  std::uint16_t port() const { return port_; }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  // (Declared before the io thread and the server, so they outlive both.)
  std::mutex mu_;
  std::string answer_;
  std::vector<Request> requests_;
  IoThread io_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace vox::test
