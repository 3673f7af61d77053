// The router's matching, and the paths it lets into log lines.
#include <gtest/gtest.h>

#include "net/router.hpp"

namespace vox::net {
namespace {

Router routes() {
  Router r;
  r.add("GET", "/health", [](const HttpRequest&) -> boost::asio::awaitable<HttpResponse> { co_return HttpResponse{}; });
  r.add("GET", "/calls/{call_sid}", [](const HttpRequest&) -> boost::asio::awaitable<HttpResponse> { co_return HttpResponse{}; });
  r.add_ws("/stream/{peer_id}/{company_api_key}/{agent_id}",
           [](const HttpRequest&, HttpResponse&) -> std::unique_ptr<WsHandler> { return nullptr; });
  return r;
}

TEST(Router, WebSocketUrlsOfHttpOnes) {
  EXPECT_EQ(websocket_url("http://10.0.0.1:8001"), "ws://10.0.0.1:8001");
  EXPECT_EQ(websocket_url("https://gw.example.com/base"), "wss://gw.example.com/base");
  EXPECT_EQ(websocket_url("wss://already"), "wss://already");
  EXPECT_EQ(websocket_url("httpx://odd"), "httpx://odd");
}

TEST(Router, LoggablePathsHideCredentialSegments) {
  const Router r = routes();
  EXPECT_EQ(r.loggable_path("/health"), "/health");
  EXPECT_EQ(r.loggable_path("/calls/CA1"), "/calls/CA1");
  EXPECT_EQ(r.loggable_path("/stream/peer/the-key-123/agent"), "/stream/peer/***/agent");
  // A wrong path that still carries the key where the route has it.
  EXPECT_EQ(r.loggable_path("/stream/peer/the-key-123/agent/extra"), "/stream/peer/***/agent/extra");
  EXPECT_EQ(r.loggable_path("/stream/peer/the-key-123"), "/stream/peer/***");
  EXPECT_EQ(r.loggable_path("/elsewhere/peer/the-key-123/agent"), "/elsewhere/peer/the-key-123/agent");
  EXPECT_EQ(r.loggable_path("/"), "/");
  EXPECT_LE(r.loggable_path("/" + std::string(5000, 'x')).size(), 203u);
}

}  // namespace
}  // namespace vox::net
