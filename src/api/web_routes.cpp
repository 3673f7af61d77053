// The web console (/console), the softphone (/phone) and their files (/app/{file}),
// compiled into the binary from web/app/.
#include <boost/asio/awaitable.hpp>

#include <cctype>

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

bool cross_origin(const net::HttpRequest& req) {
  std::string_view origin = req.header("Origin");
  if (origin.empty()) return false;  // not a browser: keys decide
  if (const auto p = origin.find("://"); p != std::string_view::npos) origin.remove_prefix(p + 3);
  std::string_view host = req.header("X-Forwarded-Host");
  if (host.empty()) host = req.header("Host");
  if (const auto c = host.find(','); c != std::string_view::npos) host = host.substr(0, c);
  auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
  };
  return !same(origin, host);
}

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
