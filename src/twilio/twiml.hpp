#pragma once
// TwiML documents we answer Twilio with.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/xml.hpp"

namespace vox::twilio {

struct StreamTwiml {
  std::string url;                                          // wss://host/media (no query string)
  std::string name;                                         // optional
  std::string status_callback;                              // optional
  std::vector<std::pair<std::string, std::string>> parameters;  // <Parameter name= value=/>
};

using vox::xml_escape;

// Returns <Response><Connect><Stream ...>...</Stream></Connect></Response> with the XML declaration.
std::string connect_stream(const StreamTwiml& stream);

// <Response><Play digits="…"/><Connect><Stream …/></Connect></Response>: presses keys on
// a live call, then reconnects its media stream.
std::string play_digits_then_connect(std::string_view digits, const StreamTwiml& stream);

// <Response><Dial><Number>+1…</Number></Dial></Response> (or <Sip> for sip: targets):
// moves a live call to another party; our stream ends.
std::string dial(std::string_view target, std::string_view caller_id = {});

// Returns the WebSocket URL of our media endpoint. From the public base URL
// (http[s]://host[:port][/prefix]) when set: https → wss, http → ws. Otherwise from the
// request's Host header: ws when X-Forwarded-Proto says http or the host is loopback
// (local use), wss otherwise (Twilio only connects to wss).
std::string media_stream_url(std::string_view base_url, std::string_view host_header,
                             std::string_view forwarded_proto = {}, std::string_view path = "/media");

}  // namespace vox::twilio
