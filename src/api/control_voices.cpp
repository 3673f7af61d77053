// The control API's service routes: its health, the voices of the speech engine, and the
// API's own description (/openapi.json, /docs).
#include <spdlog/spdlog.h>

#include "api/control_common.hpp"
#include "api/routes.hpp"
#include "api/web_assets.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

void add_voice_routes(net::Router& router, const ControlServices& svc) {
  const std::string base(kBase);

  router.add("GET", "/openapi.json", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::text(200, std::string(openapi_json()), "application/json");
  });
  router.add("GET", "/docs", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::text(200, std::string(docs_html()), "text/html; charset=utf-8");
  });

  router.add("GET", base + "/health", route(svc, [&svc](const net::HttpRequest&, const Principal&) -> asio::awaitable<net::HttpResponse> {
    json::object o;
    o["status"] = "healthy";
    o["timestamp"] = iso8601_now();
    o["active_integrations"] = svc.registry.size();
    o["elevenlabs_configured"] = svc.elevenlabs_configured;
    o["twilio_configured"] = svc.twilio != nullptr;
    const auto write_errors = svc.store.write_errors();
    std::string store_state = "ok";
    if (write_errors > 0) store_state = "write errors: " + std::to_string(write_errors);
    o["store"] = store_state;
    if (svc.provider_status)
      for (const auto& [name, state] : svc.provider_status())
        if (state != "ok" && state != "checking") o["status"] = "degraded";
    co_return json_response(200, o);
  }, false));

  router.add("GET", base + "/voices", route(svc, [&svc](const net::HttpRequest&, const Principal&) -> asio::awaitable<net::HttpResponse> {
    std::vector<VoiceCatalog::Voice> voices;
    bool failed = false;
    try {
      voices = co_await svc.voices.list();
    } catch (const std::exception& e) {
      spdlog::warn("listing voices failed: {}", e.what());
      failed = true;
    }
    if (failed) throw ApiError(502, "Could not list voices from the speech provider; try again shortly");
    json::array arr;
    for (const auto& v : voices) {
      json::object labels;
      for (const auto& [k, val] : v.labels) labels[k] = val;
      arr.push_back(json::object{{"voice_id", v.voice_id}, {"name", v.name}, {"category", v.category},
                                 {"description", v.description}, {"labels", labels}});
    }
    co_return json_response(200, arr);
  }));

  router.add("GET", base + "/voices/{voice_id}/validate", route(svc, [&svc](const net::HttpRequest& req, const Principal&) -> asio::awaitable<net::HttpResponse> {
    const std::string voice_id(req.param("voice_id"));
    const bool ok = co_await voice_known(svc, voice_id);
    co_return json_response(200, json::object{{"voice_id", voice_id}, {"valid", ok}});
  }));
}

}  // namespace vox::api
