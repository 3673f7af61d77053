#pragma once
// A Twilio account as voxbridge uses it: REST credentials (the auth token, or an API key
// and secret), the default caller id, and the webhook signature check. Given only to the
// REST client and to the webhook routes that check signatures.
#include <string>

#include "twilio/rest_client.hpp"

namespace vox::twilio {

struct AccountSettings {
  std::string account_sid;     // TWILIO_ACCOUNT_SID
  std::string auth_token;      // TWILIO_AUTH_TOKEN: signs webhooks; validated when set
  std::string phone_number;    // TWILIO_PHONE_NUMBER: default caller id
  std::string api_key_sid;     // TWILIO_API_KEY: REST calls with an API key (SK…) instead of the token
  std::string api_key_secret;  // TWILIO_API_SECRET
  std::string api_base_url = "https://api.twilio.com";
  bool validate_signatures = true;  // only when auth_token is set

  // Whether REST calls can be made: an account and a token or an API key.
  bool rest_ready() const {
    const bool api_key = !api_key_sid.empty() && !api_key_secret.empty();
    return !account_sid.empty() && (api_key || !auth_token.empty());
  }
  // The REST client's credentials: the API key when one is set, else the auth token.
  RestConfig rest() const {
    const bool api_key = !api_key_sid.empty() && !api_key_secret.empty();
    return RestConfig{account_sid, api_key ? api_key_secret : auth_token, api_key ? api_key_sid : std::string(),
                      api_base_url};
  }
  // Whether webhooks and the media upgrade must carry a valid X-Twilio-Signature.
  bool checks_signatures() const { return !auth_token.empty() && validate_signatures; }
};

}  // namespace vox::twilio
