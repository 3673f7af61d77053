#include "net/http_types.hpp"
#include "core/json_text.hpp"

#include <boost/json.hpp>
#include <boost/url/pct_string_view.hpp>

#include <algorithm>
#include <cctype>


namespace vox::net {

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) < std::tolower(static_cast<unsigned char>(y));
  });
}

std::string_view HttpRequest::header(std::string_view name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string_view{} : std::string_view(it->second);
}

std::string_view HttpRequest::param(std::string_view name) const {
  const auto it = path_params.find(name);
  return it == path_params.end() ? std::string_view{} : std::string_view(it->second);
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::error(int status, std::string_view detail) {
  return json(status, vox::json_text(boost::json::object{{"detail", detail}}));
}

namespace {
// Decodes one form component: '+' is a space, %XX an escaped byte; a malformed
// escape is kept as it stands rather than failing the whole body.
std::string form_decode(std::string_view piece) {
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  if (auto pct = boost::urls::make_pct_string_view(piece)) return pct->decode(opt);
  std::string out(piece);
  std::replace(out.begin(), out.end(), '+', ' ');
  return out;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    out.emplace_back(form_decode(pair.substr(0, eq)),
                     eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1)));
  }
  return out;
}

std::string websocket_url(std::string url) {
  if (url.rfind("https://", 0) == 0) return "wss://" + url.substr(8);
  if (url.rfind("http://", 0) == 0) return "ws://" + url.substr(7);
  return url;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string_view form_value(const std::vector<std::pair<std::string, std::string>>& form, std::string_view name) {
  for (const auto& [k, v] : form)
    if (k == name) return v;
  return {};
}

}  // namespace vox::net
