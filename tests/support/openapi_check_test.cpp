#include "support/openapi_check.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef VOX_SPECS_DIR
#define VOX_SPECS_DIR "/work/shared/specs"
#endif

namespace {

using vox::testing::OpenApiSpec;
using Problems = std::vector<std::string>;

const OpenApiSpec& eleven() {
  static const OpenApiSpec spec = OpenApiSpec::load(std::string(VOX_SPECS_DIR) + "/elevenlabs_openapi_subset.json");
  return spec;
}

const OpenApiSpec& twilio() {
  static const OpenApiSpec spec = OpenApiSpec::load(std::string(VOX_SPECS_DIR) + "/twilio_api_v2010_calls.json");
  return spec;
}

std::string dump(const Problems& p) {
  std::string out;
  for (const auto& s : p) out += "\n  " + s;
  return out.empty() ? "\n  (no problems)" : out;
}

// True if some problem contains `needle`.
bool has(const Problems& p, const std::string& needle) {
  return std::any_of(p.begin(), p.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

const OpenApiSpec::Headers kElevenHeaders = {{"xi-api-key", "sk_test"}, {"Content-Type", "application/json"}};

const std::string kTtsBody =
    R"({"text":"Hello there","model_id":"eleven_flash_v2_5",)"
    R"("voice_settings":{"stability":0.5,"similarity_boost":0.75,"use_speaker_boost":true}})";

std::string multipart(const std::string& boundary, const std::vector<std::pair<std::string, std::string>>& fields,
                      bool with_file = true) {
  std::string body;
  for (const auto& [name, value] : fields) {
    body += "--" + boundary + "\r\n";
    body += "Content-Disposition: form-data; name=\"" + name + "\"\r\n\r\n";
    body += value + "\r\n";
  }
  if (with_file) {
    body += "--" + boundary + "\r\n";
    body += "Content-Disposition: form-data; name=\"file\"; filename=\"call.wav\"\r\n";
    body += "Content-Type: audio/wav\r\n\r\n";
    body += std::string("RIFF\0\0\0\0WAVEfmt ", 16) + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

const std::string kAccount = "AC0123456789abcdef0123456789abcdef";
const std::string kCallsPath = "/2010-04-01/Accounts/" + kAccount + "/Calls.json";
const OpenApiSpec::Headers kTwilioHeaders = {{"Authorization", "Basic QUN4eHg6dG9rZW4="},
                                             {"Content-Type", "application/x-www-form-urlencoded"}};

// ---------------------------------------------------------------------------

TEST(OpenApiCheck, LoadFailsForMissingFile) {
  EXPECT_THROW(OpenApiSpec::load("/nonexistent/spec.json"), std::runtime_error);
}

TEST(OpenApiCheck, MatchPathPrefersLiteralSegments) {
  EXPECT_EQ(eleven().match_path("GET", "/v1/voices/settings/default"), "/v1/voices/settings/default");
  EXPECT_EQ(eleven().match_path("GET", "/v1/voices/abc123"), "/v1/voices/{voice_id}");
  EXPECT_EQ(eleven().match_path("GET", "/v1/voices/abc123/settings"), "/v1/voices/{voice_id}/settings");
  EXPECT_EQ(eleven().match_path("GET", "/v1/voices?show_legacy=true"), "/v1/voices");
  EXPECT_EQ(eleven().match_path("POST", "/v1/text-to-speech/abc/stream?output_format=ulaw_8000"),
            "/v1/text-to-speech/{voice_id}/stream");
  EXPECT_EQ(eleven().match_path("POST", "/v1/text-to-speech/abc/stream/with-timestamps"),
            "/v1/text-to-speech/{voice_id}/stream/with-timestamps");
  EXPECT_EQ(eleven().match_path("GET", "/v1/text-to-speech/abc"), "");  // wrong method
  EXPECT_EQ(eleven().match_path("GET", "/v1/nope"), "");
  EXPECT_EQ(twilio().match_path("POST", kCallsPath), "/2010-04-01/Accounts/{AccountSid}/Calls.json");
  EXPECT_EQ(twilio().match_path("POST", "/2010-04-01/Accounts/" + kAccount + "/Calls/CA0123456789abcdef0123456789abcdef.json"),
            "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json");
}

TEST(OpenApiCheck, ValidTtsRequestPasses) {
  auto p = eleven().check_request("POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=ulaw_8000",
                                  kElevenHeaders, "application/json", kTtsBody);
  EXPECT_TRUE(p.empty()) << dump(p);

  // Typed query values on the wire, the streaming variant, charset parameter.
  p = eleven().check_request(
      "POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream?output_format=pcm_16000&enable_logging=false&optimize_streaming_latency=3",
      kElevenHeaders, "application/json; charset=utf-8", kTtsBody);
  EXPECT_TRUE(p.empty()) << dump(p);
}

TEST(OpenApiCheck, BadOutputFormatEnumIsReported) {
  auto p = eleven().check_request("POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=ulaw_800",
                                  kElevenHeaders, "application/json", kTtsBody);
  ASSERT_EQ(p.size(), 1u) << dump(p);
  EXPECT_EQ(p[0].rfind(R"(POST /v1/text-to-speech/{voice_id}: query output_format="ulaw_800" not in enum [)", 0), 0u)
      << p[0];
  EXPECT_TRUE(has(p, R"("ulaw_8000")")) << dump(p);
}

TEST(OpenApiCheck, BadQueryTypesAreReported) {
  auto p = eleven().check_request("POST", "/v1/text-to-speech/v?enable_logging=yes&optimize_streaming_latency=fast",
                                  kElevenHeaders, "application/json", kTtsBody);
  EXPECT_TRUE(has(p, R"(query enable_logging="yes" is not boolean)")) << dump(p);
  EXPECT_TRUE(has(p, R"(query optimize_streaming_latency="fast" is not integer or null)")) << dump(p);
  EXPECT_EQ(p.size(), 2u) << dump(p);

  p = eleven().check_request("POST", "/v1/text-to-speech/v?output_format=ulaw_8000&output_format=pcm_16000",
                             kElevenHeaders, "application/json", kTtsBody);
  EXPECT_TRUE(has(p, "query output_format given 2 times")) << dump(p);
}

TEST(OpenApiCheck, MissingRequiredBodyFieldIsReported) {
  auto p = eleven().check_request("POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM", kElevenHeaders,
                                  "application/json", R"({"model_id":"eleven_flash_v2_5"})");
  ASSERT_EQ(p.size(), 1u) << dump(p);
  EXPECT_EQ(p[0], R"(POST /v1/text-to-speech/{voice_id}: body $: missing required "text")");
}

TEST(OpenApiCheck, BodyValueProblemsAreReported) {
  auto p = eleven().check_request(
      "POST", "/v1/text-to-speech/v", kElevenHeaders, "application/json",
      R"({"text":5,"apply_text_normalization":"sometimes","voice_settings":{"stability":1.5},"seed":"x",)"
      R"("pronunciation_dictionary_locators":[{"version_id":"v1"}]})");
  EXPECT_TRUE(has(p, "body $.text: 5 is not string")) << dump(p);
  EXPECT_TRUE(has(p, R"(body $.apply_text_normalization: "sometimes" not in enum ["auto", "on", "off"])")) << dump(p);
  EXPECT_TRUE(has(p, "body $.voice_settings.stability: 1.5 > maximum 1")) << dump(p);
  EXPECT_TRUE(has(p, R"(body $.seed: "x" is not integer or null)")) << dump(p);
  EXPECT_TRUE(has(p, R"(body $.pronunciation_dictionary_locators[0]: missing required "pronunciation_dictionary_id")"))
      << dump(p);
  EXPECT_EQ(p.size(), 5u) << dump(p);

  p = eleven().check_request("POST", "/v1/text-to-speech/v", kElevenHeaders, "application/json", "{not json");
  EXPECT_TRUE(has(p, "body is not valid JSON")) << dump(p);
  p = eleven().check_request("POST", "/v1/text-to-speech/v", kElevenHeaders, "application/json", "");
  EXPECT_TRUE(has(p, "missing required request body")) << dump(p);
  p = eleven().check_request("POST", "/v1/text-to-speech/v", kElevenHeaders, "text/plain", "hello");
  EXPECT_TRUE(has(p, R"(Content-Type "text/plain" is not declared)")) << dump(p);
}

TEST(OpenApiCheck, UndeclaredQueryParamIsReported) {
  auto p = eleven().check_request("POST", "/v1/text-to-speech/v?output_format=ulaw_8000&sample_rate=8000",
                                  kElevenHeaders, "application/json", kTtsBody);
  ASSERT_EQ(p.size(), 1u) << dump(p);
  EXPECT_TRUE(has(p, R"(POST /v1/text-to-speech/{voice_id}: undeclared query parameter "sample_rate")")) << dump(p);
}

TEST(OpenApiCheck, WrongMethodOrPathIsReported) {
  auto p = eleven().check_request("GET", "/v1/text-to-speech/v", kElevenHeaders, "", "");
  ASSERT_EQ(p.size(), 1u) << dump(p);
  EXPECT_TRUE(has(p, "method GET not allowed (path declares POST)")) << dump(p);

  p = eleven().check_request("DELETE", "/v1/voices", kElevenHeaders, "", "");
  EXPECT_TRUE(has(p, "method DELETE not allowed")) << dump(p);

  p = eleven().check_request("GET", "/v1/voices/", kElevenHeaders, "", "");  // trailing slash
  EXPECT_TRUE(has(p, "no path template matches")) << dump(p);

  p = eleven().check_request("GET", "/v1/models", kElevenHeaders, "application/json", "{}");
  EXPECT_TRUE(has(p, "declares no requestBody")) << dump(p);
}

TEST(OpenApiCheck, GetRequestsWithQueryArrays) {
  auto p = eleven().check_request("GET", "/v1/voices?show_legacy=true", {{"xi-api-key", "k"}}, "", "");
  EXPECT_TRUE(p.empty()) << dump(p);
  p = eleven().check_request("GET", "/v2/voices?page_size=50&voice_ids=a&voice_ids=b&search=deep%20voice",
                             {{"xi-api-key", "k"}}, "", "");
  EXPECT_TRUE(p.empty()) << dump(p);
  p = eleven().check_request("GET", "/v2/voices?page_size=many", {}, "", "");
  EXPECT_TRUE(has(p, R"(query page_size="many" is not integer)")) << dump(p);
}

TEST(OpenApiCheck, SpeechToTextMultipart) {
  const std::string b = "vox-boundary-42";
  const std::string ct = "multipart/form-data; boundary=" + b;
  auto p = eleven().check_request(
      "POST", "/v1/speech-to-text", kElevenHeaders, ct,
      multipart(b, {{"model_id", "scribe_v1"}, {"language_code", "en"}, {"diarize", "false"}, {"num_speakers", "2"},
                    {"keyterms", "voxbridge"}, {"keyterms", "twilio"}}));
  EXPECT_TRUE(p.empty()) << dump(p);

  // Quoted boundary parameter.
  p = eleven().check_request("POST", "/v1/speech-to-text", kElevenHeaders,
                             "multipart/form-data; boundary=\"" + b + "\"", multipart(b, {{"model_id", "scribe_v2"}}));
  EXPECT_TRUE(p.empty()) << dump(p);

  p = eleven().check_request("POST", "/v1/speech-to-text", kElevenHeaders, ct,
                             multipart(b, {{"language_code", "en"}}));
  ASSERT_EQ(p.size(), 1u) << dump(p);
  EXPECT_EQ(p[0], R"(POST /v1/speech-to-text: multipart body: missing required field "model_id")");

  p = eleven().check_request(
      "POST", "/v1/speech-to-text", kElevenHeaders, ct,
      multipart(b, {{"model_id", "scribe_v9"}, {"diarize", "yes"}, {"num_speakers", "40"}, {"mystery", "1"}}));
  EXPECT_TRUE(has(p, R"(multipart field model_id="scribe_v9" not in enum ["scribe_v1", "scribe_v2"])")) << dump(p);
  EXPECT_TRUE(has(p, R"(multipart field diarize="yes" is not boolean)")) << dump(p);
  EXPECT_TRUE(has(p, "multipart field num_speakers=40 > maximum 32")) << dump(p);
  EXPECT_TRUE(has(p, R"(multipart body: undeclared field "mystery")")) << dump(p);
  EXPECT_EQ(p.size(), 4u) << dump(p);

  // Wrong content type and broken framing.
  p = eleven().check_request("POST", "/v1/speech-to-text", kElevenHeaders, "application/json", R"({"model_id":"scribe_v1"})");
  EXPECT_TRUE(has(p, R"(Content-Type "application/json" is not declared)")) << dump(p);
  p = eleven().check_request("POST", "/v1/speech-to-text", kElevenHeaders, "multipart/form-data",
                             multipart(b, {{"model_id", "scribe_v1"}}));
  EXPECT_TRUE(has(p, "no boundary parameter")) << dump(p);
  std::string truncated = multipart(b, {{"model_id", "scribe_v1"}});
  truncated.resize(truncated.size() - (b.size() + 6));
  p = eleven().check_request("POST", "/v1/speech-to-text", kElevenHeaders, ct, truncated);
  EXPECT_TRUE(has(p, "not terminated by the boundary")) << dump(p);
}

TEST(OpenApiCheck, VoicesResponse) {
  const std::string voice_fields =
      R"("name":"Rachel","category":"premade","labels":{"accent":"american","gender":"female"},)"
      R"("available_for_tiers":[],"high_quality_base_model_ids":["eleven_flash_v2_5"],)"
      R"("description":null,"preview_url":"https://example.com/p.mp3","settings":null,"is_owner":false)";
  const std::string ok = R"({"voices":[{"voice_id":"21m00Tcm4TlvDq8ikWAM",)" + voice_fields + "}]}";
  auto p = eleven().check_response_json("GET", "/v1/voices?show_legacy=true", 200, ok);
  EXPECT_TRUE(p.empty()) << dump(p);

  const std::string missing = R"({"voices":[{)" + voice_fields + "}]}";
  p = eleven().check_response_json("GET", "/v1/voices", 200, missing);
  ASSERT_EQ(p.size(), 1u) << dump(p);
  EXPECT_EQ(p[0], R"(response 200 $.voices[0]: missing required "voice_id")");

  p = eleven().check_response_json("GET", "/v1/voices", 200,
                                   R"({"voices":[{"voice_id":"x",)" + voice_fields + R"(,"category":"robot"}]})");
  EXPECT_TRUE(has(p, R"(response 200 $.voices[0].category: "robot" not in enum)")) << dump(p);

  p = eleven().check_response_json("GET", "/v1/voices", 200, R"({"voices":[{"voice_id":"x",)" + voice_fields +
                                                                 R"(,"labels":{"accent":7}}]})");
  EXPECT_TRUE(has(p, "response 200 $.voices[0].labels.accent: 7 is not string")) << dump(p);

  p = eleven().check_response_json("GET", "/v1/voices", 200, "[]");
  EXPECT_TRUE(has(p, "response 200 $: array[0] is not object")) << dump(p);
}

TEST(OpenApiCheck, ResponseStatusHandling) {
  auto p = eleven().check_response_json(
      "POST", "/v1/text-to-speech/v", 422,
      R"({"detail":[{"loc":["body","text"],"msg":"Field required","type":"missing"}]})");
  EXPECT_TRUE(p.empty()) << dump(p);
  p = eleven().check_response_json("POST", "/v1/text-to-speech/v", 422, R"({"detail":[{"loc":["body",1.5]}]})");
  EXPECT_TRUE(has(p, R"(response 422 $.detail[0]: missing required "msg")")) << dump(p);
  EXPECT_TRUE(has(p, "response 422 $.detail[0].loc[1]: 1.5 is not string or integer")) << dump(p);

  p = eleven().check_response_json("POST", "/v1/text-to-speech/v", 500, "{}");
  EXPECT_TRUE(has(p, "response 500: status not declared")) << dump(p);
  p = eleven().check_response_json("POST", "/v1/text-to-speech/v", 200, "{}");  // audio/mpeg only
  EXPECT_TRUE(has(p, "declares no JSON content (declared: audio/mpeg)")) << dump(p);
  p = eleven().check_response_json("GET", "/v1/voices", 200, "{");
  EXPECT_TRUE(has(p, "not valid JSON")) << dump(p);
}

TEST(OpenApiCheck, TimestampsAndSttResponses) {
  auto p = eleven().check_response_json(
      "POST", "/v1/text-to-speech/v/with-timestamps", 200,
      R"({"audio_base64":"AAAA","alignment":{"characters":["H","i"],"character_start_times_seconds":[0.0,0.1],)"
      R"("character_end_times_seconds":[0.1,0.2]},"normalized_alignment":null})");
  EXPECT_TRUE(p.empty()) << dump(p);

  p = eleven().check_response_json(
      "POST", "/v1/speech-to-text", 200,
      R"({"language_code":"en","language_probability":0.98,"text":"Hello world!",)"
      R"("words":[{"text":"Hello","start":0.0,"end":0.5,"type":"word","speaker_id":"speaker_1","logprob":-0.1}]})");
  EXPECT_TRUE(p.empty()) << dump(p);

  p = eleven().check_response_json("POST", "/v1/speech-to-text", 200,
                                   R"({"language_code":"en","language_probability":0.98,"text":"Hi",)"
                                   R"("words":[{"text":"Hi","start":0.0,"end":0.5,"type":"mumble","logprob":0}]})");
  EXPECT_TRUE(has(p, R"("mumble" not in enum)")) << dump(p);
}

TEST(OpenApiCheck, TwilioCreateCall) {
  const std::string path = kCallsPath;
  auto p = twilio().check_request("POST", path, kTwilioHeaders, "application/x-www-form-urlencoded",
                                  "To=%2B15558675310&From=%2B15017122661&Url=https%3A%2F%2Fexample.com%2Ftwiml");
  EXPECT_TRUE(p.empty()) << dump(p);

  p = twilio().check_request(
      "POST", path, kTwilioHeaders, "application/x-www-form-urlencoded",
      "To=%2B15558675310&From=%2B15017122661&Twiml=%3CResponse%2F%3E&Timeout=30&Record=true"
      "&StatusCallbackEvent=initiated&StatusCallbackEvent=completed&StatusCallbackMethod=POST");
  EXPECT_TRUE(p.empty()) << dump(p);

  p = twilio().check_request("POST", path, kTwilioHeaders, "application/x-www-form-urlencoded",
                             "From=%2B15017122661&Url=https%3A%2F%2Fexample.com%2Ftwiml");
  ASSERT_EQ(p.size(), 1u) << dump(p);
  EXPECT_EQ(p[0], R"(POST /2010-04-01/Accounts/{AccountSid}/Calls.json: form body: missing required field "To")");

  p = twilio().check_request("POST", path, kTwilioHeaders, "application/x-www-form-urlencoded",
                             "To=1&From=2&Url=u&Timeout=soon&Method=PUT&Bogus=1");
  EXPECT_TRUE(has(p, R"(form field Timeout="soon" is not integer)")) << dump(p);
  EXPECT_TRUE(has(p, R"(form field Method="PUT" not in enum ["GET", "POST"])")) << dump(p);
  EXPECT_TRUE(has(p, R"(form body: undeclared field "Bogus")")) << dump(p);
  EXPECT_EQ(p.size(), 3u) << dump(p);

  // Credentials (spec: security accountSid_authToken = HTTP basic) and path parameter pattern.
  p = twilio().check_request("POST", path, {{"Content-Type", "application/x-www-form-urlencoded"}},
                             "application/x-www-form-urlencoded", "To=1&From=2&Url=u");
  EXPECT_TRUE(has(p, "missing credentials")) << dump(p);
  p = twilio().check_request("POST", "/2010-04-01/Accounts/ACnothex/Calls.json", kTwilioHeaders,
                             "application/x-www-form-urlencoded", "To=1&From=2&Url=u");
  EXPECT_TRUE(has(p, R"(path AccountSid="ACnothex" is shorter than minLength 34)")) << dump(p);
  EXPECT_TRUE(has(p, R"(path AccountSid="ACnothex" does not match pattern ^AC[0-9a-fA-F]{32}$)")) << dump(p);
}

TEST(OpenApiCheck, TwilioListAndResponses) {
  auto p = twilio().check_request("GET", kCallsPath + "?Status=in-progress&PageSize=20&StartTime%3E=2024-01-01",
                                  {{"Authorization", "Basic eDp5"}}, "", "");
  EXPECT_TRUE(p.empty()) << dump(p);
  p = twilio().check_request("GET", kCallsPath + "?Status=ongoing", {{"Authorization", "Basic eDp5"}}, "", "");
  EXPECT_TRUE(has(p, R"(query Status="ongoing" not in enum)")) << dump(p);

  const std::string call =
      R"({"sid":"CA0123456789abcdef0123456789abcdef","account_sid":")" + kAccount +
      R"(","to":"+15558675310","from":"+15017122661","status":"queued","direction":"outbound-api",)"
      R"("parent_call_sid":null,"price":null,"api_version":"2010-04-01","subresource_uris":{"streams":"/x"}})";
  p = twilio().check_response_json("POST", kCallsPath, 201, call);
  EXPECT_TRUE(p.empty()) << dump(p);

  std::string bad = call;
  bad.replace(bad.find("queued"), 6, "dialing");
  bad.replace(bad.find("CA0123"), 6, "XX0123");
  p = twilio().check_response_json("POST", kCallsPath, 201, bad);
  EXPECT_TRUE(has(p, R"(response 201 $.status: "dialing" not in enum)")) << dump(p);
  EXPECT_TRUE(has(p, R"(response 201 $.sid: "XX0123456789abcdef0123456789abcdef" does not match pattern)")) << dump(p);
}

TEST(OpenApiCheck, SpecExamplesConformToTheirSchemas) {
  // Self-check of the validator against the examples shipped in the specs.
  auto p = eleven().check_spec_examples();
  EXPECT_TRUE(p.empty()) << dump(p);
  p = twilio().check_spec_examples();
  EXPECT_TRUE(p.empty()) << dump(p);
}

}  // namespace
