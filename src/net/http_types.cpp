#include "net/http_types.hpp"

#include <boost/url/parse_query.hpp>

#include <algorithm>
#include <cctype>

#include "twilio/media_messages.hpp"

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

HttpResponse HttpResponse::json(int status, std::string body) {
  return HttpResponse{status, "application/json", std::move(body), {}};
}

HttpResponse HttpResponse::text(int status, std::string body, std::string content_type) {
  return HttpResponse{status, std::move(content_type), std::move(body), {}};
}

HttpResponse HttpResponse::error(int status, std::string_view detail) {
  std::string body = "{\"detail\":";
  twilio::append_json_string(body, detail);
  body += "}";
  return json(status, std::move(body));
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  auto parsed = boost::urls::parse_query(body);
  if (!parsed) return out;
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;  // form encoding: '+' is a space, "%2B" a plus
  for (const auto& p : *parsed) {
    if (p.key.empty() && !p.has_value) continue;
    out.emplace_back(p.key.decode(opt), p.has_value ? p.value.decode(opt) : std::string());
  }
  return out;
}

std::string_view form_value(const std::vector<std::pair<std::string, std::string>>& form, std::string_view name) {
  for (const auto& [k, v] : form)
    if (k == name) return v;
  return {};
}

}  // namespace vox::net
