#include "twilio/rest_client.hpp"

#include <boost/json.hpp>

#include "core/base64.hpp"
#include "core/json_text.hpp"

namespace vox::twilio {

ProviderError twilio_error(int status, int code, const std::string& message, std::string more_info) {
  auto kind = ProviderError::kind_of_status(status);
  if (status == 0 && code != 0) kind = ProviderError::Kind::kInvalid;  // refused here before sending
  return ProviderError("twilio", kind, status, code ? std::to_string(code) : std::string(), message, std::move(more_info));
}
namespace asio = boost::asio;
namespace json = boost::json;

bool is_terminal_status(std::string_view s) {
  return s == "completed" || s == "busy" || s == "failed" || s == "no-answer" || s == "canceled";
}

bool Call::terminal() const { return is_terminal_status(status); }

bool is_e164(std::string_view n) {
  if (n.size() < 9 || n.size() > 16 || n[0] != '+' || n[1] == '0') return false;
  for (std::size_t i = 1; i < n.size(); ++i)
    if (n[i] < '0' || n[i] > '9') return false;
  return true;
}

bool is_call_endpoint(std::string_view to) {
  return is_e164(to) || (to.rfind("sip:", 0) == 0 && to.size() > 4) || (to.rfind("client:", 0) == 0 && to.size() > 7);
}

std::string form_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else if (c == ' ') out += '+';
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

namespace {
std::string str(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

void add(std::string& body, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (!body.empty()) body += '&';
  body += key;
  body += '=';
  body += form_encode(value);
}
}  // namespace

Call parse_call(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) throw twilio_error(0, 0, "Twilio answered a call resource that is not JSON");
  const auto& o = v.get_object();
  Call c;
  c.sid = str(o, "sid");
  c.account_sid = str(o, "account_sid");
  c.to = str(o, "to");
  c.from = str(o, "from");
  c.status = str(o, "status");
  c.direction = str(o, "direction");
  c.duration = str(o, "duration");
  c.start_time = str(o, "start_time");
  c.end_time = str(o, "end_time");
  return c;
}

ProviderError parse_error(int status, std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  int code = 0;
  std::string message, more;
  if (!ec && v.is_object()) {
    const auto& o = v.get_object();
    if (const auto* c = o.if_contains("code"); c && c->is_int64()) code = static_cast<int>(c->get_int64());
    message = str(o, "message");
    more = str(o, "more_info");
  }
  if (message.empty()) message = std::string(body.substr(0, 200));
  return twilio_error(status, code,
                     "Twilio answered " + std::to_string(status) + (code ? " (error " + std::to_string(code) + ")" : "") +
                         ": " + message,
                     more);
}

RestClient::RestClient(net::HttpClient& http, RestConfig config) : http_(http), config_(std::move(config)) {
  while (!config_.base_url.empty() && config_.base_url.back() == '/') config_.base_url.pop_back();
}

net::ClientRequest RestClient::request(std::string method, std::string path) const {
  net::ClientRequest r;
  r.method = std::move(method);
  r.url = config_.base_url + "/2010-04-01/Accounts/" + config_.account_sid + path;
  const std::string user = config_.api_key_sid.empty() ? config_.account_sid : config_.api_key_sid;
  const std::string credentials = user + ":" + config_.auth_token;
  std::string b64;
  base64::append(b64, std::span(reinterpret_cast<const std::uint8_t*>(credentials.data()), credentials.size()));
  r.headers.emplace_back("Authorization", "Basic " + b64);
  r.headers.emplace_back("Accept", "application/json");
  // A control-API client waits on this; Twilio answers in about a second when it is well,
  // so one that has said nothing for this long (retries included) is reported as down.
  r.budget = kRequestBudget;
  return r;
}

asio::awaitable<std::string> RestClient::send(net::ClientRequest req, int expected_status) {
  net::HttpResponse res;
  std::optional<std::string> transport;
  try {
    res = co_await http_.send(std::move(req));
  } catch (const net::TransportError& e) {
    transport = e.what();
  }
  if (transport) throw twilio_error(0, 0, "Twilio unreachable: " + *transport);
  if (res.status != expected_status && res.status / 100 != 2) throw parse_error(res.status, res.body);
  co_return std::move(res.body);
}

asio::awaitable<Call> RestClient::create_call(CreateCall c) {
  if (!is_call_endpoint(c.to))
    throw twilio_error(400, 21211, "Invalid 'To' number " + c.to + ": use E.164 like +14155550123 (or sip:/client:)");
  if (!is_e164(c.from) && c.from.rfind("client:", 0) != 0)
    throw twilio_error(400, 21212, "Invalid 'From' number " + c.from + ": use an E.164 number you own, like +14155550123");
  if (c.url.empty() == c.twiml.empty())
    throw twilio_error(400, 21205, "Give exactly one of Url or Twiml for the call");
  std::string body;
  add(body, "To", c.to);
  add(body, "From", c.from);
  add(body, "Url", c.url);
  add(body, "Twiml", c.twiml);
  add(body, "Method", c.method);
  add(body, "StatusCallback", c.status_callback);
  for (const auto& e : c.status_callback_events) add(body, "StatusCallbackEvent", e);
  add(body, "StatusCallbackMethod", c.status_callback_method);
  if (c.timeout_s) add(body, "Timeout", std::to_string(*c.timeout_s));
  if (c.time_limit_s) add(body, "TimeLimit", std::to_string(*c.time_limit_s));
  add(body, "MachineDetection", c.machine_detection);
  if (c.record) add(body, "Record", *c.record ? "true" : "false");
  auto req = request("POST", "/Calls.json");
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.body = std::move(body);
  const std::string out = co_await send(std::move(req), 201);
  co_return parse_call(out);
}

asio::awaitable<Call> RestClient::fetch_call(std::string sid) {
  const std::string out = co_await send(request("GET", "/Calls/" + form_encode(sid) + ".json"), 200);
  co_return parse_call(out);
}

asio::awaitable<Call> RestClient::update_call(std::string sid, UpdateCall u) {
  std::string body;
  add(body, "Status", u.status);
  add(body, "Url", u.url);
  add(body, "Twiml", u.twiml);
  add(body, "Method", u.method);
  auto req = request("POST", "/Calls/" + form_encode(sid) + ".json");
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.body = std::move(body);
  const std::string out = co_await send(std::move(req), 200);
  co_return parse_call(out);
}

asio::awaitable<std::vector<Call>> RestClient::list_calls(ListCalls f) {
  std::string query = "PageSize=" + std::to_string(f.page_size);
  if (!f.to.empty()) query += "&To=" + form_encode(f.to);
  if (!f.from.empty()) query += "&From=" + form_encode(f.from);
  if (!f.status.empty()) query += "&Status=" + form_encode(f.status);
  const std::string out = co_await send(request("GET", "/Calls.json?" + query), 200);
  boost::system::error_code ec;
  auto v = json::parse(out, ec);
  std::vector<Call> calls;
  if (ec || !v.is_object()) throw twilio_error(0, 0, "Twilio answered a call list that is not JSON");
  if (const auto* arr = v.get_object().if_contains("calls"); arr && arr->is_array())
    for (const auto& c : arr->get_array()) calls.push_back(parse_call(vox::json_text(c)));
  co_return calls;
}

asio::awaitable<void> RestClient::complete_call(std::string sid) {
  UpdateCall u;
  u.status = "completed";
  try {
    co_await update_call(std::move(sid), std::move(u));
  } catch (const TwilioError& e) {
    if (e.numeric_code() != 21220) throw;  // 21220: call not in progress (already over)
  }
}

}  // namespace vox::twilio
