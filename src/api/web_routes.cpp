// The web console (/console), the softphone (/phone) and their files (/app/{file}),
// compiled into the binary from web/app/.
#include <boost/asio/awaitable.hpp>

#include "api/control.hpp"
#include "api/web_files.hpp"

namespace vox::api {
namespace asio = boost::asio;

namespace {
// The pages load nothing from elsewhere: scripts, styles, sockets and audio are this
// server's own (blob: for recordings played in the page).
constexpr std::string_view kPolicy =
    "default-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

net::HttpResponse file_response(const WebFile& f) {
  auto res = net::HttpResponse::text(200, std::string(f.bytes), std::string(f.content_type));
  res.headers.emplace_back("Content-Security-Policy", std::string(kPolicy));
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("Cache-Control", "no-cache");
  return res;
}

net::HttpHandler page(std::string_view name) {
  return [name](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    const WebFile* f = find_web_file(name);
    if (!f) co_return net::HttpResponse::error(404, "Not found");
    co_return file_response(*f);
  };
}
}  // namespace

void add_web_routes(net::Router& router, const ControlServices& svc) {
  router.add("GET", "/console", page("console.html"));
  router.add("GET", "/phone", page("phone.html"));
  router.add("GET", "/app/{file}", [](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    const WebFile* f = find_web_file(req.param("file"));
    // Pages are served at their own paths; only the scripts, styles and images here.
    if (!f || f->name.ends_with(".html")) co_return net::HttpResponse::error(404, "Not found");
    co_return file_response(*f);
  });
  add_console_routes(router, svc);
}

}  // namespace vox::api
