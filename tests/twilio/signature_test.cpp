// X-Twilio-Signature against the official helper libraries' vectors in
// ../shared/specs/twilio_signature_vectors.json.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>

#include "twilio/signature.hpp"

namespace vox::twilio {
namespace {
namespace json = boost::json;

json::object vectors() {
  std::ifstream in(std::string(VOX_SPECS_DIR) + "/twilio_signature_vectors.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return json::parse(text).as_object();
}

FormParams params_of(const json::value& v) {
  FormParams p;
  if (!v.is_object()) return p;
  for (const auto& [k, val] : v.as_object()) {
    if (val.is_array()) {
      for (const auto& x : val.as_array()) p.emplace_back(std::string(k), std::string(x.as_string()));
    } else {
      p.emplace_back(std::string(k), std::string(val.as_string()));
    }
  }
  return p;
}

TEST(TwilioSignature, AllOfficialVectors) {
  const auto all = vectors();
  const auto& vs = all.at("vectors").as_array();
  ASSERT_EQ(vs.size(), 17u);
  int checked = 0;
  for (const auto& v : vs) {
    const auto& o = v.as_object();
    const std::string id(o.at("id").as_string());
    const std::string token(o.at("auth_token").as_string());
    const std::string url(o.at("url").as_string());
    const std::string sig(o.at("x_twilio_signature").as_string());
    const bool expected = o.at("expected_valid").as_bool();
    bool valid;
    if (o.at("kind").as_string() == "json_body") {
      valid = validate_signature_json(token, url, std::string(o.at("body").as_string()), sig);
    } else {
      valid = validate_signature(token, url, params_of(o.at("params")), sig);
    }
    EXPECT_EQ(valid, expected) << id;
    // Where the exact signed URL is known, signing it reproduces the vector.
    if (const auto* signed_url = o.if_contains("signed_url"); signed_url && o.at("kind").as_string() == "form" && expected) {
      EXPECT_EQ(compute_signature(token, std::string(signed_url->as_string()), params_of(o.at("params"))), sig) << id;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 17);
}

TEST(TwilioSignature, BodyHashVectors) {
  const auto all = vectors();
  for (const auto& v : all.at("body_hash_vectors").as_array()) {
    const auto& o = v.as_object();
    EXPECT_EQ(sha256_hex(std::string(o.at("body").as_string())), o.at("sha256_hex").as_string());
  }
}

TEST(TwilioSignature, NodeWebhookPortAndQuoteCases) {
  const auto all = vectors();
  const auto& cases = all.at("node_webhooks_spec_behaviour_cases").as_object().at("cases").as_array();
  ASSERT_GE(cases.size(), 9u);
  for (const auto& c : cases) {
    const auto& o = c.as_object();
    const std::string token(o.at("auth_token").as_string());
    const auto sig = compute_signature(token, std::string(o.at("signed_url").as_string()), {});
    EXPECT_EQ(sig, o.at("x_twilio_signature_computed_here").as_string()) << o.at("id").as_string();
    EXPECT_EQ(validate_signature(token, std::string(o.at("validate_url").as_string()), {}, sig),
              o.at("expected_valid").as_bool())
        << o.at("id").as_string();
  }
}

TEST(TwilioSignature, ChangedParamsOrTokenOrMissingSignatureFail) {
  const FormParams p = {{"CallSid", "CA1"}, {"From", "+15550001111"}};
  const std::string url = "https://example.com/twilio-voice";
  const auto sig = compute_signature("secret", url, p);
  EXPECT_TRUE(validate_signature("secret", url, p, sig));
  FormParams changed = p;
  changed[1].second = "+15550009999";
  EXPECT_FALSE(validate_signature("secret", url, changed, sig));
  FormParams extra = p;
  extra.emplace_back("To", "+1555");
  EXPECT_FALSE(validate_signature("secret", url, extra, sig));
  EXPECT_FALSE(validate_signature("other", url, p, sig));
  EXPECT_FALSE(validate_signature("secret", url, p, ""));
  EXPECT_FALSE(validate_signature("secret", url + "?x=1", p, sig));
  EXPECT_FALSE(validate_signature("secret", url, p, sig.substr(0, 27)));
}

}  // namespace
}  // namespace vox::twilio
