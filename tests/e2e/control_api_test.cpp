// The control API (/api/v1/elevenlabs-twilio/*) over real HTTP against the server
// binary: every REST endpoint's success and errors, API keys and tenant isolation, the
// call store behind GET /calls, speech queued for a call before its media stream starts
// (spoken into a simulated call once it connects), calls placed through the Twilio
// emulator, body limits, and the OpenAPI document and docs page.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <future>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "audio/mp3.hpp"
#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kBase = "/api/v1/elevenlabs-twilio";
const std::string kAcme = "acme-key-123";
const std::string kGlobex = "globex-key-456";

// Two companies with one key each.
std::vector<std::string> tenant_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--api-key", "acme:" + kAcme, "--api-key", "globex:" + kGlobex};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// A Twilio-shaped CallSid ("CA" and 32 hex digits) numbered `n`.
std::string sid_of(unsigned n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "CA%032x", n);
  return buf;
}

// Requests to the control API of `server` with `key` ("" = no key) in X-API-KEY.
struct Api {
  const ServerProcess& server;
  std::string key;

  std::string url(const std::string& path) const { return server.url() + kBase + path; }
  net::Headers headers() const {
    net::Headers h{{"Content-Type", "application/json"}};
    if (!key.empty()) h.emplace_back("X-API-KEY", key);
    return h;
  }
  net::HttpResponse get(const std::string& path) const { return http("GET", url(path), {}, headers()); }
  net::HttpResponse post(const std::string& path, const std::string& body = {}) const {
    return http("POST", url(path), body, headers());
  }
  net::HttpResponse del(const std::string& path) const { return http("DELETE", url(path), {}, headers()); }
};

json::value json_of(const net::HttpResponse& res) {
  boost::system::error_code ec;
  auto v = json::parse(res.body, ec);
  if (ec) {
    ADD_FAILURE() << "body is not JSON (HTTP " << res.status << "): " << res.body.substr(0, 500);
    return nullptr;
  }
  return v;
}

json::object obj_of(const net::HttpResponse& res) {
  auto v = json_of(res);
  if (!v.is_object()) {
    ADD_FAILURE() << "body is not a JSON object (HTTP " << res.status << "): " << res.body.substr(0, 500);
    return {};
  }
  return std::move(v.as_object());
}

// o[key] as a string; "<missing>" or "<the JSON>" when it is absent or not a string.
std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return "<missing>";
  if (!v->is_string()) return "<" + json::serialize(*v) + ">";
  return std::string(v->as_string());
}

// o[key] as a number; NaN (and a failure) when it is absent or not a number.
double num(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_number()) {
    ADD_FAILURE() << "'" << key << "' is not a number in " << json::serialize(o);
    return std::numeric_limits<double>::quiet_NaN();
  }
  return v->to_number<double>();
}

// o[key] serialized ("true", "null", ...), or "<missing>".
std::string raw(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? json::serialize(*v) : "<missing>";
}

json::object sub(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_object()) {
    ADD_FAILURE() << "'" << key << "' is not an object in " << json::serialize(o);
    return {};
  }
  return v->as_object();
}

json::array arr(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_array()) {
    ADD_FAILURE() << "'" << key << "' is not an array in " << json::serialize(o);
    return {};
  }
  return v->as_array();
}

// The {"detail": ...} of an error response.
std::string detail(const net::HttpResponse& res) { return str(obj_of(res), "detail"); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The CallSids of a GET /calls answer, in order.
std::vector<std::string> sids_in(const net::HttpResponse& res) {
  std::vector<std::string> out;
  for (const auto& c : arr(obj_of(res), "calls"))
    if (c.is_object()) out.push_back(str(c.as_object(), "call_sid"));
  return out;
}

// Registers `sid` through POST /calls/incoming with the extra fields `body`; returns the answer.
json::object register_call(const Api& api, const std::string& sid, json::object body = {}) {
  body["call_sid"] = sid;
  auto res = api.post("/calls/incoming", json::serialize(body));
  EXPECT_EQ(res.status, 200) << "registering " << sid << ": " << res.body;
  return obj_of(res);
}


// The line of `log` that starts with `needle` ("" if none).
std::string log_line(const std::string& log, const std::string& needle) {
  const auto p = log.find(needle);
  if (p == std::string::npos) return {};
  const auto e = log.find('\n', p);
  return log.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

// Expects the settings object `s` to hold exactly these values.
void expect_settings(const json::object& s, double stability, double similarity, double style, bool speaker_boost,
                     double speed) {
  EXPECT_NEAR(num(s, "stability"), stability, 1e-9) << json::serialize(s);
  EXPECT_NEAR(num(s, "similarity_boost"), similarity, 1e-9) << json::serialize(s);
  EXPECT_NEAR(num(s, "style"), style, 1e-9) << json::serialize(s);
  EXPECT_EQ(raw(s, "use_speaker_boost"), speaker_boost ? "true" : "false") << json::serialize(s);
  EXPECT_NEAR(num(s, "speed"), speed, 1e-9) << json::serialize(s);
}

// Expects every per-call endpoint to answer 404 "Call not found" for `sid` with `api`'s key.
void expect_call_hidden(const Api& api, const std::string& sid) {
  struct Req {
    std::string method, path, body;
  };
  const std::string c = "/calls/" + sid;
  const std::vector<Req> reqs = {
      {"GET", c, ""},
      {"POST", c + "/stream", R"({"text":"hello"})"},
      {"POST", c + "/stop", ""},
      {"POST", c + "/voice?voice_id=es", R"({"stability":0.9})"},
      {"POST", c + "/synthesize", R"({"text":"hello"})"},
      {"GET", c + "/transcript", ""},
      {"GET", c + "/events", ""},
      {"DELETE", c, ""},
  };
  for (const auto& r : reqs) {
    auto res = http(r.method, api.url(r.path), r.body, api.headers());
    EXPECT_EQ(res.status, 404) << api.key << ": " << r.method << " " << r.path << " -> " << res.body;
    EXPECT_EQ(detail(res), "Call not found") << api.key << ": " << r.method << " " << r.path;
  }
}

// ---------------------------------------------------------------------------------------
// Health, voices, API keys

TEST(ControlApi, HealthNeedsNoKeyAndReportsItsIntegrations) {
  ServerProcess server(tenant_args());
  for (const std::string key : {"", "not-a-known-key"}) {
    auto res = Api{server, key}.get("/health");
    ASSERT_EQ(res.status, 200) << res.body;
    EXPECT_EQ(res.content_type, "application/json");
    auto o = obj_of(res);
    EXPECT_EQ(str(o, "status"), "healthy") << res.body;
    const std::string ts = str(o, "timestamp");
    EXPECT_EQ(ts.size(), 24u) << ts;  // 2026-11-21T10:04:23.367Z
    EXPECT_EQ(ts.back(), 'Z') << ts;
    ASSERT_TRUE(o.contains("active_integrations")) << res.body;
    EXPECT_TRUE(o.at("active_integrations").is_int64() || o.at("active_integrations").is_uint64()) << res.body;
    EXPECT_EQ(num(o, "active_integrations"), 0.0);
    EXPECT_EQ(raw(o, "elevenlabs_configured"), "false");
    EXPECT_EQ(raw(o, "twilio_configured"), "false");
  }
}

TEST(ControlApi, VoicesListTheEmbeddedVoicesAndValidateIds) {
  ServerProcess server({});
  Api api{server, ""};
  auto res = api.get("/voices");
  ASSERT_EQ(res.status, 200) << res.body;
  auto v = json_of(res);
  ASSERT_TRUE(v.is_array()) << res.body;
  std::vector<std::string> ids;
  for (const auto& e : v.as_array()) {
    ASSERT_TRUE(e.is_object()) << res.body;
    const auto& o = e.as_object();
    ids.push_back(str(o, "voice_id"));
    EXPECT_TRUE(o.contains("name") && o.at("name").is_string()) << json::serialize(o);
    EXPECT_TRUE(o.contains("category") && o.at("category").is_string()) << json::serialize(o);
    EXPECT_TRUE(o.contains("description") && o.at("description").is_string()) << json::serialize(o);
    EXPECT_TRUE(o.contains("labels") && o.at("labels").is_object()) << json::serialize(o);
    if (str(o, "voice_id") == "en-us") {
      EXPECT_FALSE(str(o, "name").empty());
      EXPECT_EQ(str(o, "category"), "embedded");
      EXPECT_EQ(str(sub(o, "labels"), "engine"), "espeak-ng");
    }
  }
  for (const char* id : {"en-us", "es"})
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id << " missing from " << res.body;

  auto ok = api.get("/voices/en-us/validate");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(str(obj_of(ok), "voice_id"), "en-us");
  EXPECT_EQ(raw(obj_of(ok), "valid"), "true");
  auto bad = api.get("/voices/nope/validate");
  ASSERT_EQ(bad.status, 200) << bad.body;
  EXPECT_EQ(str(obj_of(bad), "voice_id"), "nope");
  EXPECT_EQ(raw(obj_of(bad), "valid"), "false");
}

TEST(ControlApi, KeysAreRequiredOnEveryEndpointAndBothHeaderFormsWork) {
  ServerProcess server(tenant_args());
  const std::string sid = sid_of(1);
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"GET", "/voices"},
      {"GET", "/voices/en-us/validate"},
      {"POST", "/calls"},
      {"GET", "/calls"},
      {"POST", "/calls/incoming"},
      {"GET", "/calls/" + sid},
      {"DELETE", "/calls/" + sid},
      {"POST", "/calls/" + sid + "/synthesize"},
      {"POST", "/calls/" + sid + "/stream"},
      {"POST", "/calls/" + sid + "/stop"},
      {"POST", "/calls/" + sid + "/voice"},
      {"GET", "/calls/" + sid + "/transcript"},
      {"GET", "/calls/" + sid + "/events"},
  };
  const std::string base = server.url() + kBase;
  for (const auto& [method, path] : endpoints) {
    const std::string body = method == "POST" ? "{}" : "";
    auto missing = http(method, base + path, body);
    EXPECT_EQ(missing.status, 401) << method << " " << path << ": " << missing.body;
    EXPECT_EQ(detail(missing).rfind("Missing API key", 0), 0u) << method << " " << path << ": " << missing.body;
    auto wrong = http(method, base + path, body, {{"X-API-KEY", "wrong-key-000"}});
    EXPECT_EQ(wrong.status, 401) << method << " " << path << ": " << wrong.body;
    EXPECT_EQ(detail(wrong), "Invalid API key") << method << " " << path;
  }
  // Not a Bearer token: no key at all.
  auto basic = http("GET", base + "/voices", {}, {{"Authorization", "Basic YWNtZTphY21lLWtleS0xMjM="}});
  EXPECT_EQ(basic.status, 401);
  EXPECT_EQ(detail(basic).rfind("Missing API key", 0), 0u) << basic.body;
  auto bad_bearer = http("GET", base + "/voices", {}, {{"Authorization", "Bearer wrong-key-000"}});
  EXPECT_EQ(bad_bearer.status, 401);
  EXPECT_EQ(detail(bad_bearer), "Invalid API key");

  // Both forms of a good key work, and name the same company.
  auto reg = http("POST", base + "/calls/incoming", R"({"call_sid":")" + sid + R"("})",
                  {{"Authorization", "Bearer " + kAcme}, {"Content-Type", "application/json"}});
  EXPECT_EQ(reg.status, 200) << reg.body;
  auto by_header = http("GET", base + "/calls/" + sid, {}, {{"X-API-KEY", kAcme}});
  EXPECT_EQ(by_header.status, 200) << by_header.body;
  EXPECT_EQ(http("GET", base + "/voices", {}, {{"Authorization", "Bearer " + kGlobex}}).status, 200);
  EXPECT_EQ(http("GET", base + "/voices", {}, {{"X-API-KEY", kGlobex}}).status, 200);
  // The other company's key does not reach the call.
  EXPECT_EQ(http("GET", base + "/calls/" + sid, {}, {{"Authorization", "Bearer " + kGlobex}}).status, 404);
}

// ---------------------------------------------------------------------------------------
// POST /calls/incoming and GET /calls/{sid}

TEST(ControlApi, IncomingCallAnswersTwimlThatConnectsItsStream) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  const std::string sid = sid_of(0x10);
  auto res = acme.post("/calls/incoming",
                       json::serialize(json::object{{"call_sid", sid}, {"from_number", "+15550001111"},
                                                    {"to_number", "+15550002222"}, {"voice_id", "en-us"},
                                                    {"company_api_key", kAcme}}));
  ASSERT_EQ(res.status, 200) << res.body;
  auto o = obj_of(res);
  EXPECT_EQ(str(o, "call_sid"), sid);
  EXPECT_EQ(str(o, "status"), "handled");
  const std::string twiml = str(o, "twiml");
  const std::string port = std::to_string(server.port());
  EXPECT_TRUE(contains(twiml, "<Connect><Stream url=\"ws://127.0.0.1:" + port + "/media\"")) << twiml;
  EXPECT_TRUE(contains(twiml, "statusCallback=\"http://127.0.0.1:" + port + "/api/v1/twilio/stream-status\"")) << twiml;
  EXPECT_TRUE(contains(twiml, "<Parameter name=\"from\" value=\"+15550001111\"/>")) << twiml;
  EXPECT_TRUE(contains(twiml, "<Parameter name=\"direction\" value=\"inbound\"/>")) << twiml;
  // Registering it again (same company) is fine.
  EXPECT_EQ(acme.post("/calls/incoming", R"({"call_sid":")" + sid + R"("})").status, 200);
}

TEST(ControlApi, IncomingCallRejectsBadRequests) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  Api globex{server, kGlobex};
  struct Case {
    std::string body;
    int status;
    std::string detail_part;
  };
  const std::string sid = sid_of(0x20);
  const std::vector<Case> cases = {
      {"", 400, "Request body is empty"},
      {"{\"call_sid\":", 400, "Malformed JSON"},
      {"[\"" + sid + "\"]", 400, "must be a JSON object"},
      {"{}", 400, "Field 'call_sid' is required"},
      {R"({"call_sid":42})", 400, "Field 'call_sid' must be a string"},
      {R"({"call_sid":")" + sid + R"(","voice_settings":{"stability":1.5}})", 400, "between 0.0 and 1.0"},
      {R"({"call_sid":")" + sid + R"(","voice_settings":{"use_speaker_boost":"yes"}})", 400,
       "use_speaker_boost must be true or false"},
      {R"({"call_sid":")" + sid + R"(","voice_settings":"fast"})", 400, "voice_settings must be an object"},
      {R"({"call_sid":")" + sid + R"(","voice_id":"nope"})", 404, "Invalid voice ID: nope"},
      {R"({"call_sid":")" + sid + R"(","company_api_key":")" + kGlobex + R"("})", 403,
       "company_api_key does not belong"},
  };
  for (const auto& c : cases) {
    auto res = acme.post("/calls/incoming", c.body);
    EXPECT_EQ(res.status, c.status) << c.body << " -> " << res.body;
    EXPECT_TRUE(contains(detail(res), c.detail_part)) << c.body << " -> " << res.body;
  }
  EXPECT_EQ(detail(acme.post("/calls/incoming", R"({"call_sid":")" + sid + R"(","voice_id":"nope"})")),
            "Invalid voice ID: nope");
  // None of those registered the call.
  EXPECT_EQ(acme.get("/calls/" + sid).status, 404);

  // A CallSid belongs to the company that registered it first.
  register_call(acme, sid);
  auto taken = globex.post("/calls/incoming", R"({"call_sid":")" + sid + R"("})");
  EXPECT_EQ(taken.status, 409) << taken.body;
  EXPECT_TRUE(contains(detail(taken), "already registered by another company")) << taken.body;
  EXPECT_EQ(str(obj_of(acme.get("/calls/" + sid)), "status"), "registered");
}

TEST(ControlApi, RegisteredCallShowsItsVoiceAndSettings) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  const std::string sid = sid_of(0x30);
  register_call(acme, sid,
                json::object{{"from_number", "+15550001111"},
                             {"to_number", "+15550002222"},
                             {"agent_id", "support-bot"},
                             {"voice_id", "en-us"},
                             {"voice_settings", json::object{{"stability", 0.8},
                                                             {"similarity_boost", 0.6},
                                                             {"style", 0.1},
                                                             {"use_speaker_boost", false},
                                                             {"speed", 1.1}}}});
  auto res = acme.get("/calls/" + sid);
  ASSERT_EQ(res.status, 200) << res.body;
  auto o = obj_of(res);
  EXPECT_EQ(str(o, "call_sid"), sid);
  EXPECT_EQ(str(o, "status"), "registered");
  EXPECT_EQ(str(o, "voice_id"), "en-us");
  expect_settings(sub(o, "voice_settings"), 0.8, 0.6, 0.1, false, 1.1);
  EXPECT_EQ(num(o, "audio_queue_size"), 0.0);
  EXPECT_FALSE(str(o, "created_at").empty());
  EXPECT_EQ(str(o, "direction"), "inbound");
  EXPECT_EQ(str(o, "from_"), "+15550001111");
  EXPECT_EQ(str(o, "to"), "+15550002222");
  EXPECT_EQ(str(o, "agent_id"), "support-bot");
  EXPECT_EQ(raw(o, "ended_at"), "null");
  EXPECT_EQ(raw(o, "metadata"), "{}");
  auto info = sub(o, "elevenlabs_voice_info");
  EXPECT_EQ(raw(info, "is_connected"), "false");
  EXPECT_EQ(raw(info, "has_initial_message"), "false");
  EXPECT_EQ(str(info, "voice_id"), "en-us");
  expect_settings(sub(info, "voice_settings"), 0.8, 0.6, 0.1, false, 1.1);

  // Defaults when no settings were given.
  const std::string plain = sid_of(0x31);
  register_call(acme, plain);
  auto p = obj_of(acme.get("/calls/" + plain));
  EXPECT_EQ(str(p, "voice_id"), "en-us");  // the voice it speaks with: the default
  expect_settings(sub(p, "voice_settings"), 0.5, 0.75, 0.0, true, 1.0);

  auto unknown = acme.get("/calls/" + sid_of(0x3f));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.content_type, "application/json");
  EXPECT_EQ(json::serialize(json_of(unknown)), R"({"detail":"Call not found"})");
}

// ---------------------------------------------------------------------------------------
// Synthesize, stream, voice, stop, delete

TEST(ControlApi, SynthesizeReturnsMp3OfTheText) {
  ServerProcess server({"--max-text-chars", "50"});
  Api api{server, ""};
  const std::string sid = sid_of(0x40);
  register_call(api, sid, json::object{{"voice_id", "en-us"}});

  auto res = api.post("/calls/" + sid + "/synthesize", R"({"text":"Hello from the control API"})");
  ASSERT_EQ(res.status, 200) << res.body.substr(0, 300);
  EXPECT_EQ(res.content_type, "audio/mpeg");
  bool disposition = false;
  for (const auto& [name, value] : res.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "content-disposition") disposition = contains(value, sid + ".mp3");
  }
  EXPECT_TRUE(disposition) << "no Content-Disposition naming " << sid << ".mp3";
  ASSERT_GT(res.body.size(), 100u);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(res.body.data());
  EXPECT_EQ(static_cast<int>(bytes[0]), 0xFF);  // an MPEG frame sync right away: no ID3 tag, no JSON
  EXPECT_EQ(bytes[1] & 0xE0, 0xE0);
  int rate = 0;
  const auto pcm = audio::decode_mp3(std::span<const std::uint8_t>(bytes, res.body.size()), rate);
  ASSERT_GT(rate, 0);
  const double seconds = static_cast<double>(pcm.size()) / rate;
  EXPECT_GT(seconds, 0.3);
  EXPECT_LT(seconds, 30.0);
  double energy = 0;
  for (const auto s : pcm) energy += static_cast<double>(s) * s;
  EXPECT_GT(std::sqrt(energy / static_cast<double>(std::max<std::size_t>(pcm.size(), 1))), 100.0) << "silence only";

  // Another voice and settings for this request only.
  auto es = api.post("/calls/" + sid + "/synthesize", R"({"text":"Hola","voice_id":"es","voice_settings":{"speed":0.9}})");
  EXPECT_EQ(es.status, 200) << es.body.substr(0, 300);
  EXPECT_EQ(es.content_type, "audio/mpeg");

  // The limit counts characters, not bytes: 50 characters in 60 bytes pass.
  std::string fifty;
  for (int i = 0; i < 10; ++i) fifty += "café ";
  ASSERT_EQ(fifty.size(), 60u);
  EXPECT_EQ(api.post("/calls/" + sid + "/synthesize", json::serialize(json::object{{"text", fifty}})).status, 200);

  struct Case {
    std::string sid, body;
    int status;
    std::string detail_part;
  };
  const std::vector<Case> cases = {
      {sid, R"({"text":""})", 400, "Field 'text' is required"},
      {sid, R"({"text":"   "})", 400, "Field 'text' is required"},
      {sid, R"({})", 400, "Field 'text' is required"},
      {sid, R"({"text":7})", 400, "Field 'text' must be a string"},
      {sid, json::serialize(json::object{{"text", fifty + "x"}}), 400, "the limit is 50"},
      {sid, R"({"text":"hi","voice_id":"nope"})", 404, "Invalid voice ID: nope"},
      {sid, R"({"text":"hi","voice_settings":{"speed":0.5}})", 400, "between 0.7 and 1.2"},
      {sid, "not json", 400, "Malformed JSON"},
      {sid_of(0x4f), R"({"text":"hi"})", 404, "Call not found"},
  };
  for (const auto& c : cases) {
    auto r = api.post("/calls/" + c.sid + "/synthesize", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body.substr(0, 300);
    EXPECT_TRUE(contains(detail(r), c.detail_part)) << c.body << " -> " << r.body.substr(0, 300);
  }
  EXPECT_TRUE(contains(detail(api.post("/calls/" + sid + "/synthesize",
                                       json::serialize(json::object{{"text", fifty + "x"}}))),
                       "has 51 characters"));
}

TEST(ControlApi, StreamQueuesTextUntilTheCallConnectsAndThenSpeaksIt) {
  ServerProcess server({"--greeting", "", "--tts-voice", kVoice});
  Api api{server, ""};
  const std::string sid = sid_of(0x50);
  const std::string twiml = str(register_call(api, sid, json::object{{"from_number", "+15550001111"}}), "twiml");

  // Characters, not bytes: "é" is two bytes.
  const std::string spanish = "Un café, por favor";
  ASSERT_EQ(spanish.size(), 19u);
  auto queued = api.post("/calls/" + sid + "/stream", json::serialize(json::object{{"text", spanish}}));
  ASSERT_EQ(queued.status, 200) << queued.body;
  auto q = obj_of(queued);
  EXPECT_EQ(str(q, "call_sid"), sid);
  EXPECT_EQ(str(q, "status"), "streaming");
  EXPECT_EQ(num(q, "text_length"), 18.0);
  EXPECT_EQ(raw(q, "queued"), "true");
  EXPECT_EQ(num(obj_of(api.get("/calls/" + sid)), "audio_queue_size"), 1.0);

  for (const std::string body : {R"({"text":""})", R"({"text":" \n "})", R"({})", R"({"text":["a"]})", "[]"}) {
    auto bad = api.post("/calls/" + sid + "/stream", body);
    EXPECT_EQ(bad.status, 400) << body << " -> " << bad.body;
    EXPECT_FALSE(detail(bad).empty());
  }
  EXPECT_TRUE(contains(detail(api.post("/calls/" + sid + "/stream", R"({"text":""})")), "Field 'text' is required"));
  auto unknown = api.post("/calls/" + sid_of(0x5f) + "/stream", R"({"text":"hello"})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(detail(unknown), "Call not found");

  // Stop drops what is queued; then queue the text the caller should hear.
  auto stopped = api.post("/calls/" + sid + "/stop");
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  EXPECT_EQ(num(obj_of(api.get("/calls/" + sid)), "audio_queue_size"), 0.0);
  const std::string text = "you said good morning";  // a phrase the caller's recognizer knows
  auto second = api.post("/calls/" + sid + "/stream", json::serialize(json::object{{"text", text}}));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(num(obj_of(second), "text_length"), 21.0);
  EXPECT_EQ(raw(obj_of(second), "queued"), "true");

  // Now the call connects with that CallSid, using the TwiML the registration answered.
  sim::CallerOptions o;
  o.server_url = server.url();
  o.twiml = twiml;
  o.call_sid = sid;
  o.voice = kVoice;
  o.greeting_wait_ms = 30000;  // the queued text is the first thing the call hears
  o.idle_after_ms = 60000;     // then stay on the line until we hang up
  o.max_call_ms = 90000;
  o.hangup = std::make_shared<std::atomic<bool>>(false);
  auto& engines = Engines::get();  // loaded before the call starts
  auto caller = std::async(std::launch::async, [&o, &engines] {
    return run_io([&o, &engines]() { return sim::run_caller(o, sim::CallerEngines{engines.tts}); });
  });
  struct HangUpOnExit {
    std::shared_ptr<std::atomic<bool>> flag;
    ~HangUpOnExit() { flag->store(true); }
  } hang_up_on_exit{o.hangup};

  // While it is live, GET shows the live session.
  json::object live;
  EXPECT_TRUE(eventually([&] {
    live = obj_of(api.get("/calls/" + sid));
    return raw(sub(live, "elevenlabs_voice_info"), "is_connected") == "true";
  }, 30s)) << json::serialize(live) << "\n" << server.log_tail();
  EXPECT_EQ(str(live, "status"), "in-progress") << json::serialize(live);

  // The queued text is spoken into the call, and its stored agent turn is completed once
  // played (it is stored as it starts, with no end yet).
  ASSERT_TRUE(server.wait_for_log("agent says call_sid=" + sid, 30s)) << server.log_tail();
  EXPECT_TRUE(contains(log_line(server.log(), "agent says call_sid=" + sid), "text=\"" + text + "\""))
      << log_line(server.log(), "agent says call_sid=" + sid);
  json::array turns;
  EXPECT_TRUE(eventually([&] {
    turns = arr(obj_of(api.get("/calls/" + sid + "/transcript")), "turns");
    for (const auto& t : turns)
      if (t.is_object() && str(t.as_object(), "speaker") == "agent" && str(t.as_object(), "text") == text &&
          num(t.as_object(), "end_ms") > 0)
        return true;
    return false;
  }, 30s)) << json::serialize(turns) << "\n" << server.log_tail();

  o.hangup->store(true);
  std::vector<sim::CallerResult> results;
  results.push_back(caller.get());
  sim::transcribe(results, engines.stt);
  const auto& r = results[0];
  EXPECT_TRUE(r.ok) << r.error << "\n" << server.log_tail();
  EXPECT_GT(r.media_bytes_received, 8000u);  // over a second of speech
  ASSERT_EQ(r.heard.size(), 1u) << server.log_tail();
  EXPECT_EQ(r.heard[0].transcript, text);
  EXPECT_FALSE(r.heard[0].cleared);
  // The stopped text was never spoken: the one text spoken was the second.
  EXPECT_EQ(count_of(server.log(), "agent says call_sid=" + sid), 1u) << server.log_tail();

  // The store has the stream's start among the call's events.
  bool stream_started = false;
  for (const auto& e : arr(obj_of(api.get("/calls/" + sid + "/events")), "events"))
    if (e.is_object() && str(e.as_object(), "kind") == "stream_started") stream_started = true;
  EXPECT_TRUE(stream_started);
}

// A call registered through /calls/incoming gets no Twilio status callbacks here (they go
// to the customer's own webhook), so the end of its media stream is the end of the call.
TEST(ControlApi, RegisteredCallReadsCompletedOnceItsMediaStreamEnds) {
  ServerProcess server({"--greeting", ""});
  Api api{server, ""};
  const std::string sid = sid_of(0x58);
  const std::string twiml = str(register_call(api, sid), "twiml");
  sim::CallerOptions o;
  o.server_url = server.url();
  o.twiml = twiml;
  o.call_sid = sid;
  o.greeting_wait_ms = 300;
  o.idle_after_ms = 0;
  o.max_call_ms = 30000;
  auto r = run_io([&o]() { return sim::run_caller(o, sim::CallerEngines{Engines::get().tts}); });
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log_tail();
  ASSERT_TRUE(server.wait_for_log("call ended call_sid=" + sid, 20s)) << server.log_tail();

  // The store says so ...
  auto listed = api.get("/calls?status=completed");
  EXPECT_EQ(sids_in(listed), std::vector<std::string>{sid}) << listed.body;
  // ... and so does the call itself, and it takes no more text.
  json::object info;
  EXPECT_TRUE(eventually([&] {
    info = obj_of(api.get("/calls/" + sid));
    return str(info, "status") == "completed";
  }, 10s)) << json::serialize(info);
  EXPECT_TRUE(info.contains("ended_at") && info.at("ended_at").is_string()) << json::serialize(info);
  auto late = api.post("/calls/" + sid + "/stream", R"({"text":"anyone there"})");
  EXPECT_EQ(late.status, 409) << late.body;
}

TEST(ControlApi, VoiceChangesTheVoiceAndPatchesSettings) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  const std::string sid = sid_of(0x60);
  register_call(acme, sid,
                json::object{{"voice_id", "en-us"},
                             {"voice_settings", json::object{{"stability", 0.8},
                                                             {"similarity_boost", 0.6},
                                                             {"style", 0.1},
                                                             {"use_speaker_boost", false},
                                                             {"speed", 1.1}}}});
  auto res = acme.post("/calls/" + sid + "/voice?voice_id=es", R"({"stability":0.9})");
  ASSERT_EQ(res.status, 200) << res.body;
  auto o = obj_of(res);
  EXPECT_EQ(str(o, "call_sid"), sid);
  EXPECT_EQ(str(o, "status"), "updated");
  EXPECT_EQ(str(o, "voice_id"), "es");
  expect_settings(sub(o, "voice_settings"), 0.9, 0.6, 0.1, false, 1.1);
  auto got = obj_of(acme.get("/calls/" + sid));
  EXPECT_EQ(str(got, "voice_id"), "es");
  expect_settings(sub(got, "voice_settings"), 0.9, 0.6, 0.1, false, 1.1);
  EXPECT_EQ(str(sub(got, "elevenlabs_voice_info"), "voice_id"), "es");

  // Settings wrapped in {"voice_settings": ...} work too; no voice_id keeps the voice.
  auto wrapped = acme.post("/calls/" + sid + "/voice", R"({"voice_settings":{"speed":0.8}})");
  ASSERT_EQ(wrapped.status, 200) << wrapped.body;
  EXPECT_EQ(str(obj_of(wrapped), "voice_id"), "es");
  expect_settings(sub(obj_of(wrapped), "voice_settings"), 0.9, 0.6, 0.1, false, 0.8);
  // Only a voice, no body.
  auto voice_only = acme.post("/calls/" + sid + "/voice?voice_id=en");
  ASSERT_EQ(voice_only.status, 200) << voice_only.body;
  EXPECT_EQ(str(obj_of(voice_only), "voice_id"), "en");
  expect_settings(sub(obj_of(voice_only), "voice_settings"), 0.9, 0.6, 0.1, false, 0.8);

  struct Case {
    std::string path, body;
    int status;
    std::string detail_part;
  };
  const std::string c = "/calls/" + sid + "/voice";
  const std::vector<Case> cases = {
      {c, R"({"stability":2})", 400, "between 0.0 and 1.0"},
      {c, R"({"stability":"high"})", 400, "stability must be a number"},
      {c, R"({"speed":1.5})", 400, "between 0.7 and 1.2"},
      {c, R"({"use_speaker_boost":1})", 400, "use_speaker_boost must be true or false"},
      {c, "[0.5]", 400, "must be a JSON object"},
      {c, "{oops", 400, "Malformed JSON"},
      {c + "?voice_id=nope", R"({"stability":0.3})", 404, "Invalid voice ID: nope"},
      {"/calls/" + sid_of(0x6f) + "/voice?voice_id=es", R"({"stability":0.3})", 404, "Call not found"},
  };
  for (const auto& k : cases) {
    auto r = acme.post(k.path, k.body);
    EXPECT_EQ(r.status, k.status) << k.path << " " << k.body << " -> " << r.body;
    EXPECT_TRUE(contains(detail(r), k.detail_part)) << k.path << " " << k.body << " -> " << r.body;
  }
  // Nothing of the refused changes stuck.
  auto after = obj_of(acme.get("/calls/" + sid));
  EXPECT_EQ(str(after, "voice_id"), "en");
  expect_settings(sub(after, "voice_settings"), 0.9, 0.6, 0.1, false, 0.8);
  // The store has the change too.
  bool noted = false;
  for (const auto& e : arr(obj_of(acme.get("/calls/" + sid + "/events")), "events"))
    if (e.is_object() && str(e.as_object(), "kind") == "voice_updated" && str(e.as_object(), "detail") == "es") noted = true;
  EXPECT_TRUE(noted);
}

TEST(ControlApi, StopAnswersStoppedAndDropsQueuedText) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  const std::string sid = sid_of(0x70);
  register_call(acme, sid);
  ASSERT_EQ(acme.post("/calls/" + sid + "/stream", R"({"text":"first"})").status, 200);
  ASSERT_EQ(acme.post("/calls/" + sid + "/stream", R"({"text":"second"})").status, 200);
  EXPECT_EQ(num(obj_of(acme.get("/calls/" + sid)), "audio_queue_size"), 2.0);
  auto res = acme.post("/calls/" + sid + "/stop");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json::serialize(json_of(res)), R"({"call_sid":")" + sid + R"(","status":"stopped"})");
  EXPECT_EQ(num(obj_of(acme.get("/calls/" + sid)), "audio_queue_size"), 0.0);
  // Stopping again is harmless.
  EXPECT_EQ(acme.post("/calls/" + sid + "/stop").status, 200);
  auto unknown = acme.post("/calls/" + sid_of(0x7f) + "/stop");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(detail(unknown), "Call not found");
}

TEST(ControlApi, DeleteEndsTheCallAndTheStoreKeepsIt) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  const std::string sid = sid_of(0x80);
  register_call(acme, sid, json::object{{"voice_id", "es"}, {"agent_id", "sales"}});
  auto res = acme.del("/calls/" + sid);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json::serialize(json_of(res)), R"({"call_sid":")" + sid + R"(","status":"ended"})");

  auto got = acme.get("/calls/" + sid);
  ASSERT_EQ(got.status, 200) << got.body;
  auto o = obj_of(got);
  EXPECT_EQ(str(o, "status"), "completed");
  ASSERT_TRUE(o.contains("ended_at"));
  EXPECT_TRUE(o.at("ended_at").is_string() && !o.at("ended_at").as_string().empty()) << got.body;
  EXPECT_EQ(str(o, "voice_id"), "es");
  EXPECT_EQ(str(o, "agent_id"), "sales");
  EXPECT_EQ(raw(sub(o, "elevenlabs_voice_info"), "is_connected"), "false");

  auto late = acme.post("/calls/" + sid + "/stream", R"({"text":"too late"})");
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_TRUE(contains(detail(late), "has ended")) << late.body;

  std::vector<std::string> details;
  for (const auto& e : arr(obj_of(acme.get("/calls/" + sid + "/events")), "events"))
    if (e.is_object()) details.push_back(str(e.as_object(), "detail"));
  EXPECT_NE(std::find(details.begin(), details.end(), "ended by the control API"), details.end());

  auto unknown = acme.del("/calls/" + sid_of(0x8f));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(detail(unknown), "Call not found");
}

// ---------------------------------------------------------------------------------------
// History: GET /calls, transcript, events

TEST(ControlApi, CallListIsNewestFirstWithFiltersAndPages) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  const std::string a = sid_of(0x91), b = sid_of(0x92), c = sid_of(0x93);
  register_call(acme, a, json::object{{"agent_id", "alpha"}, {"from_number", "+15550000001"}});
  register_call(acme, b, json::object{{"agent_id", "beta"}});
  register_call(acme, c, json::object{{"agent_id", "alpha"}});
  ASSERT_EQ(acme.del("/calls/" + b).status, 200);

  using Sids = std::vector<std::string>;
  auto all = acme.get("/calls");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(sids_in(all), (Sids{c, b, a})) << all.body;
  auto page = obj_of(all);
  EXPECT_EQ(num(page, "limit"), 50.0);
  EXPECT_EQ(num(page, "offset"), 0.0);
  EXPECT_EQ(raw(page, "has_more"), "false");
  for (const auto& v : arr(page, "calls")) {
    ASSERT_TRUE(v.is_object());
    const auto& s = v.as_object();
    for (const char* key : {"call_sid", "status", "direction", "to", "from_", "agent_id", "voice_id", "created_at", "ended_at"})
      EXPECT_TRUE(s.contains(key)) << key << " missing in " << json::serialize(s);
    EXPECT_EQ(str(s, "direction"), "inbound");
    if (str(s, "call_sid") == a) {
      EXPECT_EQ(str(s, "from_"), "+15550000001");
    }
    if (str(s, "call_sid") == b) {
      EXPECT_EQ(str(s, "status"), "completed");
      EXPECT_TRUE(s.at("ended_at").is_string()) << json::serialize(s);
    } else {
      EXPECT_EQ(str(s, "status"), "registered");
      EXPECT_EQ(raw(s, "ended_at"), "null");
    }
  }

  EXPECT_EQ(sids_in(acme.get("/calls?status=registered")), (Sids{c, a}));
  EXPECT_EQ(sids_in(acme.get("/calls?status=completed")), (Sids{b}));
  EXPECT_EQ(sids_in(acme.get("/calls?status=in-progress")), Sids{});
  EXPECT_EQ(sids_in(acme.get("/calls?direction=inbound")), (Sids{c, b, a}));
  EXPECT_EQ(sids_in(acme.get("/calls?direction=outbound-api")), Sids{});
  EXPECT_EQ(sids_in(acme.get("/calls?agent_id=alpha")), (Sids{c, a}));
  EXPECT_EQ(sids_in(acme.get("/calls?agent_id=beta&status=completed")), (Sids{b}));

  auto first = acme.get("/calls?limit=2");
  EXPECT_EQ(sids_in(first), (Sids{c, b}));
  EXPECT_EQ(raw(obj_of(first), "has_more"), "true");
  EXPECT_EQ(num(obj_of(first), "limit"), 2.0);
  auto second = acme.get("/calls?limit=2&offset=2");
  EXPECT_EQ(sids_in(second), (Sids{a}));
  EXPECT_EQ(raw(obj_of(second), "has_more"), "false");
  EXPECT_EQ(num(obj_of(second), "offset"), 2.0);
  auto exact = acme.get("/calls?limit=3");
  EXPECT_EQ(sids_in(exact), (Sids{c, b, a}));
  EXPECT_EQ(raw(obj_of(exact), "has_more"), "false");
  EXPECT_EQ(sids_in(acme.get("/calls?offset=5")), Sids{});

  for (const std::string q : {"limit=0", "limit=abc", "limit=501", "limit=-1", "limit=2x", "offset=-1", "offset=x"}) {
    auto bad = acme.get("/calls?" + q);
    EXPECT_EQ(bad.status, 400) << q << " -> " << bad.body;
    const std::string name = q.substr(0, q.find('='));
    EXPECT_TRUE(contains(detail(bad), "Query parameter '" + name + "' must be an integer")) << q << " -> " << bad.body;
  }
  EXPECT_EQ(detail(acme.get("/calls?limit=0")), "Query parameter 'limit' must be an integer from 1 to 500");
}

TEST(ControlApi, TranscriptAndEventsOfRegisteredAndUnknownCalls) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  const std::string sid = sid_of(0xa0);
  register_call(acme, sid);

  auto events = acme.get("/calls/" + sid + "/events");
  ASSERT_EQ(events.status, 200) << events.body;
  auto e = obj_of(events);
  EXPECT_EQ(str(e, "call_sid"), sid);
  bool registered = false;
  for (const auto& v : arr(e, "events")) {
    ASSERT_TRUE(v.is_object());
    const auto& ev = v.as_object();
    EXPECT_FALSE(str(ev, "at").empty());
    if (str(ev, "kind") == "status" && str(ev, "detail") == "registered") registered = true;
  }
  EXPECT_TRUE(registered) << events.body;

  auto transcript = acme.get("/calls/" + sid + "/transcript");
  ASSERT_EQ(transcript.status, 200) << transcript.body;
  auto t = obj_of(transcript);
  EXPECT_EQ(str(t, "call_sid"), sid);
  EXPECT_EQ(raw(t, "turns"), "[]");

  for (const char* what : {"/transcript", "/events"}) {
    auto unknown = acme.get("/calls/" + sid_of(0xaf) + what);
    EXPECT_EQ(unknown.status, 404) << what;
    EXPECT_EQ(detail(unknown), "Call not found") << what;
  }
}

// ---------------------------------------------------------------------------------------
// Outbound calls: POST /calls

TEST(ControlApi, PlacingACallWithoutTwilioIsRefusedAfterValidation) {
  ServerProcess server({});
  Api api{server, ""};
  auto res = api.post("/calls", R"({"to_number":"+15005550006","from_number":"+15005550001"})");
  EXPECT_EQ(res.status, 503) << res.body;
  EXPECT_EQ(detail(res).rfind("Twilio is not configured", 0), 0u) << res.body;

  struct Case {
    std::string body;
    std::string detail_part;
  };
  const std::vector<Case> cases = {
      {R"({"to_number":"12345","from_number":"+15005550001"})", "Invalid to_number '12345'"},
      {R"({"to_number":"+15005550006","from_number":"+0987654321"})", "from_number"},
      {R"({"to_number":"+15005550006"})", "Field 'from_number' is required"},
      {R"({"from_number":"+15005550001"})", "Field 'to_number' is required"},
      {R"({"to_number":"+15005550006","from_number":"+15005550001","metadata":"x"})", "Field 'metadata' must be an object"},
      {R"({"to_number":"+15005550006","from_number":"+15005550001","voice_settings":{"style":-0.1}})", "between 0.0 and 1.0"},
      {R"(["+15005550006"])", "must be a JSON object"},
  };
  for (const auto& c : cases) {
    auto r = api.post("/calls", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    EXPECT_TRUE(contains(detail(r), c.detail_part)) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(sids_in(api.get("/calls")), std::vector<std::string>{});
}

TEST(ControlApi, PlacedCallConnectsThroughTwilioAndKeepsItsMetadata) {
  auto emulator = twilio_emulator({});
  auto server = gateway(*emulator, {"--api-key", "acme:" + kAcme});
  Api acme{*server, kAcme};

  auto health = obj_of(Api{*server, ""}.get("/health"));
  EXPECT_EQ(raw(health, "twilio_configured"), "true");
  EXPECT_EQ(raw(health, "elevenlabs_configured"), "false");

  // Refused before anything reaches Twilio.
  auto nope = acme.post("/calls", R"({"to_number":"+15005550006","from_number":"+15005550001","voice_id":"nope"})");
  EXPECT_EQ(nope.status, 404) << nope.body;
  EXPECT_EQ(detail(nope), "Invalid voice ID: nope");
  auto bad_to = acme.post("/calls", R"({"to_number":"12345","from_number":"+15005550001"})");
  EXPECT_EQ(bad_to.status, 400) << bad_to.body;
  EXPECT_TRUE(contains(detail(bad_to), "to_number")) << bad_to.body;
  auto bad_from = acme.post("/calls", R"({"to_number":"+15005550006","from_number":"+0987654321"})");
  EXPECT_EQ(bad_from.status, 400) << bad_from.body;
  EXPECT_TRUE(contains(detail(bad_from), "from_number")) << bad_from.body;
  EXPECT_EQ(emulator_calls(*emulator).size(), 0u);

  auto res = acme.post("/calls", R"({"to_number":"+15005550006","from_number":"+15005550001","voice_id":"en-us",)"
                                 R"("voice_settings":{"stability":0.7},)"
                                 R"("metadata":{"customer_id":"12345","agent_id":"echo"}})");
  ASSERT_EQ(res.status, 200) << res.body << "\n" << server->log_tail();
  auto placed = obj_of(res);
  const std::string sid = str(placed, "call_sid");
  EXPECT_EQ(sid.rfind("CA", 0), 0u) << sid;
  EXPECT_EQ(str(placed, "status"), "initiated");
  EXPECT_EQ(str(placed, "direction"), "outbound-api");
  EXPECT_EQ(str(placed, "to"), "+15005550006");
  EXPECT_EQ(str(placed, "from_"), "+15005550001");
  EXPECT_FALSE(str(placed, "created_at").empty());
  EXPECT_EQ(str(placed, "voice_id"), "en-us");
  expect_settings(sub(placed, "voice_settings"), 0.7, 0.75, 0.0, true, 1.0);

  auto early = obj_of(acme.get("/calls/" + sid));
  EXPECT_EQ(str(sub(early, "metadata"), "customer_id"), "12345") << json::serialize(early);
  EXPECT_EQ(str(early, "agent_id"), "echo");

  // The emulator rings the call, fetches our webhook and streams; the callee hears the
  // greeting and hangs up; the completed callback ends it here.
  json::object info;
  ASSERT_TRUE(eventually([&] {
    info = obj_of(acme.get("/calls/" + sid));
    return str(info, "status") == "completed";
  }, 90s)) << json::serialize(info) << "\n" << server->log_tail();
  EXPECT_TRUE(server->wait_for_log("call started call_sid=" + sid)) << server->log_tail();
  EXPECT_EQ(str(info, "direction"), "outbound-api");
  EXPECT_EQ(str(info, "to"), "+15005550006");
  EXPECT_EQ(str(info, "from_"), "+15005550001");
  EXPECT_EQ(str(info, "voice_id"), "en-us");
  EXPECT_EQ(str(info, "agent_id"), "echo");
  expect_settings(sub(info, "voice_settings"), 0.7, 0.75, 0.0, true, 1.0);
  EXPECT_TRUE(info.contains("ended_at") && info.at("ended_at").is_string()) << json::serialize(info);
  auto metadata = sub(info, "metadata");
  EXPECT_EQ(str(metadata, "customer_id"), "12345") << json::serialize(info);
  EXPECT_EQ(str(metadata, "agent_id"), "echo") << json::serialize(info);

  auto calls = emulator_calls(*emulator);
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(str(c, "sid"), sid);
  EXPECT_EQ(str(c, "to"), "+15005550006");
  EXPECT_EQ(str(c, "from"), "+15005550001");
  const std::string twiml = str(c, "twiml");
  EXPECT_TRUE(contains(twiml, "<Connect><Stream")) << twiml;
  // The owner and agent ride along on the webhook URL into the stream's parameters.
  EXPECT_TRUE(contains(twiml, "<Parameter name=\"tenant\" value=\"acme\"/>")) << twiml;
  EXPECT_TRUE(contains(twiml, "<Parameter name=\"agent_id\" value=\"echo\"/>")) << twiml;

  EXPECT_EQ(sids_in(acme.get("/calls?direction=outbound-api")), std::vector<std::string>{sid});
}

// ---------------------------------------------------------------------------------------
// Tenants, limits, documents

TEST(ControlApi, CompaniesNeverSeeOrTouchEachOthersCalls) {
  ServerProcess server(tenant_args());
  Api acme{server, kAcme};
  Api globex{server, kGlobex};
  const std::string a = sid_of(0xb1), g = sid_of(0xb2);
  register_call(acme, a, json::object{{"voice_id", "en-us"}});
  register_call(globex, g, json::object{{"voice_id", "es"}});

  expect_call_hidden(globex, a);
  expect_call_hidden(acme, g);

  EXPECT_EQ(sids_in(acme.get("/calls")), std::vector<std::string>{a});
  EXPECT_EQ(sids_in(globex.get("/calls")), std::vector<std::string>{g});
  // Each still has its own call, untouched by the other's attempts.
  auto mine = obj_of(acme.get("/calls/" + a));
  EXPECT_EQ(str(mine, "status"), "registered");
  EXPECT_EQ(str(mine, "voice_id"), "en-us");
  EXPECT_EQ(num(mine, "audio_queue_size"), 0.0);
  auto theirs = obj_of(globex.get("/calls/" + g));
  EXPECT_EQ(str(theirs, "status"), "registered");
  EXPECT_EQ(str(theirs, "voice_id"), "es");
  EXPECT_EQ(num(theirs, "audio_queue_size"), 0.0);
  const std::vector<std::pair<const Api*, std::string>> own = {{&acme, a}, {&globex, g}};
  for (const auto& [api, sid] : own) {
    EXPECT_EQ(api->get("/calls/" + sid + "/events").status, 200);
    EXPECT_EQ(api->get("/calls/" + sid + "/transcript").status, 200);
    EXPECT_EQ(api->post("/calls/" + sid + "/stream", R"({"text":"hello"})").status, 200);
  }
  EXPECT_EQ(sids_in(acme.get("/calls?status=registered")), std::vector<std::string>{a});
  EXPECT_EQ(sids_in(globex.get("/calls?status=registered")), std::vector<std::string>{g});
}

TEST(ControlApi, BodiesOverTheLimitAreRefusedWith413) {
  ServerProcess server({});
  Api api{server, ""};
  const std::string sid = sid_of(0xc0);
  // Just under 1 MiB is fine (unknown fields are ignored) ...
  const std::string fits = R"({"call_sid":")" + sid + R"(","pad":")" + std::string(1000 * 1000, 'x') + "\"}";
  EXPECT_EQ(api.post("/calls/incoming", fits).status, 200);
  // ... over it is not, whatever the route.
  const std::string big = R"({"call_sid":")" + sid_of(0xc1) + R"(","pad":")" + std::string(1536 * 1024, 'x') + "\"}";
  auto res = api.post("/calls/incoming", big);
  EXPECT_EQ(res.status, 413) << res.body.substr(0, 300);
  EXPECT_TRUE(contains(detail(res), "exceeds")) << res.body.substr(0, 300);
  auto stream = api.post("/calls/" + sid + "/stream", big);
  EXPECT_EQ(stream.status, 413);
  EXPECT_FALSE(detail(stream).empty());
  // Nothing was registered or queued, and the server carries on.
  EXPECT_EQ(api.get("/calls/" + sid_of(0xc1)).status, 404);
  EXPECT_EQ(num(obj_of(api.get("/calls/" + sid)), "audio_queue_size"), 0.0);
  EXPECT_EQ(api.get("/health").status, 200);
}

// Without an ElevenLabs key, the old service's default voice does not turn its examples
// into a chain of 404s: the call is registered and spoken with the embedded voice, and
// the response says so. Voices reported are the ones used; numbers are plain decimals.
TEST(ControlApi, AnElevenLabsVoiceWithoutAKeySpeaksWithTheEmbeddedVoiceAndSaysSo) {
  ServerProcess server({"--tts-voice", "en-us+Alex"});
  Api api{server, ""};
  const std::string sid = sid_of(501);
  auto res = api.post("/calls/incoming", R"({"call_sid":")" + sid +
                                             R"(","voice_id":"IKne3meq5aSn9XLyUdCD","voice_settings":{"stability":0.7}})");
  ASSERT_EQ(res.status, 200) << res.body;
  auto o = obj_of(res);
  EXPECT_EQ(str(o, "voice_id"), "en-us+Alex");
  EXPECT_NE(str(o, "note").find("ELEVENLABS_API_KEY"), std::string::npos) << res.body;
  EXPECT_NE(str(o, "note").find("IKne3meq5aSn9XLyUdCD"), std::string::npos) << res.body;
  EXPECT_TRUE(server.wait_for_log("voice IKne3meq5aSn9XLyUdCD: ElevenLabs is not configured"));
  // The old examples' next steps find the call.
  auto info = api.get("/calls/" + sid);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(str(obj_of(info), "voice_id"), "en-us+Alex");
  EXPECT_EQ(str(sub(obj_of(info), "elevenlabs_voice_info"), "voice_id"), "en-us+Alex");
  EXPECT_NE(info.body.find(R"("stability":0.7)"), std::string::npos) << info.body;
  // A voice that is neither embedded nor shaped like an ElevenLabs id is still unknown.
  auto bad = api.post("/calls/incoming", R"({"call_sid":")" + sid_of(502) + R"(","voice_id":"nope"})");
  EXPECT_EQ(bad.status, 404) << bad.body;
  // Plain decimals everywhere, /health's uptime included.
  const auto health = http("GET", server.url() + "/health").body;
  EXPECT_NE(health.find(R"("uptime_s":)"), std::string::npos) << health;
  for (const auto& body : {info.body, health}) {
    // The JSON text outside its strings: numbers, punctuation, true/false/null.
    std::string bare;
    bool in_string = false;
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (in_string) {
        if (body[i] == '\\') ++i;
        else if (body[i] == '"') in_string = false;
      } else if (body[i] == '"') {
        in_string = true;
      } else {
        bare += body[i];
      }
    }
    for (std::size_t i = 1; i < bare.size(); ++i)
      if ((bare[i] == 'E' || bare[i] == 'e') && std::isdigit(static_cast<unsigned char>(bare[i - 1])))
        ADD_FAILURE() << "a number in exponent form: " << body;
  }
}

TEST(ControlApi, OpenApiDocumentAndDocsPageArePublicAndComplete) {
  ServerProcess server(tenant_args());
  auto res = http("GET", server.url() + "/openapi.json");
  ASSERT_EQ(res.status, 200) << res.body.substr(0, 300);
  EXPECT_EQ(res.content_type.rfind("application/json", 0), 0u) << res.content_type;
  auto doc = obj_of(res);
  EXPECT_EQ(str(doc, "openapi").rfind("3.1", 0), 0u) << str(doc, "openapi");
  auto paths = sub(doc, "paths");
  for (const std::string& p :
       {kBase + "/health", kBase + "/voices", kBase + "/voices/{voice_id}/validate", kBase + "/calls",
        kBase + "/calls/incoming", kBase + "/calls/{call_sid}", kBase + "/calls/{call_sid}/synthesize",
        kBase + "/calls/{call_sid}/stream", kBase + "/calls/{call_sid}/stop", kBase + "/calls/{call_sid}/voice",
        kBase + "/calls/{call_sid}/transcript", kBase + "/calls/{call_sid}/events",
        std::string("/api/v1/webrtc/twilio-elevenlabs-stream/{peer_id}/{company_api_key}/{agent_id}"),
        std::string("/generate"), std::string("/media")}) {
    EXPECT_TRUE(paths.contains(p)) << p << " missing from /openapi.json";
  }
  // The turn API's parameters, and the media stream's messages in both directions.
  std::vector<std::string> generate_params;
  const auto generate = sub(sub(paths, "/generate"), "get");
  for (const auto& prm : generate.at("parameters").as_array())
    generate_params.emplace_back(prm.as_object().at("name").as_string());
  EXPECT_EQ(generate_params,
            (std::vector<std::string>{"client", "sid", "first", "input", "timeout", "talk_timeout"}));
  const auto media = sub(sub(sub(paths, "/media"), "get"), "x-websocket");
  std::vector<std::string> from_twilio, to_twilio;
  for (const auto& m : media.at("client_messages").as_array()) from_twilio.emplace_back(m.as_object().at("type").as_string());
  for (const auto& m : media.at("server_messages").as_array()) to_twilio.emplace_back(m.as_object().at("type").as_string());
  EXPECT_EQ(from_twilio, (std::vector<std::string>{"connected", "start", "media", "mark", "dtmf", "stop"}));
  EXPECT_EQ(to_twilio, (std::vector<std::string>{"media", "mark", "clear"}));
  // Every method the server routes is described.
  const auto methods = [&](const std::string& p) {
    std::vector<std::string> out;
    if (const auto* v = paths.if_contains(p); v && v->is_object())
      for (const auto& kv : v->as_object()) out.emplace_back(kv.key());
    return out;
  };
  const auto has = [&](const std::string& p, const std::string& m) {
    const auto ms = methods(p);
    return std::find(ms.begin(), ms.end(), m) != ms.end();
  };
  EXPECT_TRUE(has(kBase + "/calls", "get"));
  EXPECT_TRUE(has(kBase + "/calls", "post"));
  EXPECT_TRUE(has(kBase + "/calls/{call_sid}", "get"));
  EXPECT_TRUE(has(kBase + "/calls/{call_sid}", "delete"));
  EXPECT_TRUE(has(kBase + "/calls/{call_sid}/voice", "post"));

  auto docs = http("GET", server.url() + "/docs");
  ASSERT_EQ(docs.status, 200);
  EXPECT_EQ(docs.content_type.rfind("text/html", 0), 0u) << docs.content_type;
  EXPECT_TRUE(contains(docs.body, "id=\"endpoints\""));
  EXPECT_TRUE(contains(docs.body, "openapi.json"));
  // Self-contained: no script, stylesheet or other resource from elsewhere.
  std::string lower = docs.body;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_FALSE(contains(lower, "@import"));
  for (const std::string tag : {"<script", "<link", "<img", "<iframe"}) {
    for (auto p = lower.find(tag); p != std::string::npos; p = lower.find(tag, p + 1)) {
      const std::string t = lower.substr(p, lower.find('>', p) - p);
      EXPECT_FALSE(contains(t, "://") || contains(t, "\"//") || contains(t, "'//")) << "external resource: " << t;
    }
  }
}

}  // namespace
}  // namespace vox::test
