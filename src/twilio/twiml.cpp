#include "twilio/twiml.hpp"

namespace vox::twilio {

namespace {
std::string stream_element(const StreamTwiml& stream) {
  std::string out = "<Stream url=\"" + xml_escape(stream.url) + "\"";
  if (!stream.name.empty()) out += " name=\"" + xml_escape(stream.name) + "\"";
  if (!stream.status_callback.empty())
    out += " statusCallback=\"" + xml_escape(stream.status_callback) + "\" statusCallbackMethod=\"POST\"";
  if (stream.parameters.empty()) {
    out += "/>";
  } else {
    out += ">";
    for (const auto& [k, v] : stream.parameters)
      out += "<Parameter name=\"" + xml_escape(k) + "\" value=\"" + xml_escape(v) + "\"/>";
    out += "</Stream>";
  }
  return out;
}
}  // namespace

std::string connect_stream(const StreamTwiml& stream) {
  return R"(<?xml version="1.0" encoding="UTF-8"?>)" "<Response><Connect>" + stream_element(stream) +
         "</Connect></Response>";
}

std::string play_digits_then_connect(std::string_view digits, const StreamTwiml& stream) {
  return R"(<?xml version="1.0" encoding="UTF-8"?>)" "<Response><Play digits=\"" + xml_escape(digits) +
         "\"/><Connect>" + stream_element(stream) + "</Connect></Response>";
}

namespace {
bool loopback_host(std::string_view host) {
  return host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
}
}  // namespace

std::string media_stream_url(std::string_view base_url, std::string_view host_header, std::string_view forwarded_proto,
                             std::string_view path) {
  std::string_view rest;
  std::string scheme = "wss";
  if (!base_url.empty()) {
    rest = base_url;
    if (rest.starts_with("https://")) {
      rest.remove_prefix(8);
    } else if (rest.starts_with("http://")) {
      rest.remove_prefix(7);
      scheme = "ws";
    } else if (rest.starts_with("wss://")) {
      rest.remove_prefix(6);
    } else if (rest.starts_with("ws://")) {
      rest.remove_prefix(5);
      scheme = "ws";
    }
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  } else {
    rest = host_header;
    if (forwarded_proto == "http" || (forwarded_proto.empty() && loopback_host(host_header))) scheme = "ws";
  }
  return scheme + "://" + std::string(rest) + std::string(path);
}

std::string dial(std::string_view target, std::string_view caller_id) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial";
  if (!caller_id.empty()) out += " callerId=\"" + xml_escape(caller_id) + "\"";
  out += ">";
  if (target.rfind("sip:", 0) == 0) out += "<Sip>" + xml_escape(target) + "</Sip>";
  else out += "<Number>" + xml_escape(target) + "</Number>";
  out += "</Dial></Response>";
  return out;
}

}  // namespace vox::twilio
