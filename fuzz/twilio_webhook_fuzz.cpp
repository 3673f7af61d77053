// Twilio webhooks as a stranger can send them: a form body (or query string) and an
// X-Twilio-Signature over a URL, form-encoded or JSON-bodied. The input is split at the
// first two newlines into URL, signature and body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/http_types.hpp"
#include "twilio/signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto cut = [&in]() {
    const auto nl = in.find('\n');
    const auto part = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    return part;
  };
  const auto url = cut();
  const auto signature = cut();
  const auto body = in;
  const auto form = vox::net::parse_form(body);
  (void)vox::twilio::validate_signature("fuzz-token", url, form, signature);
  (void)vox::twilio::validate_signature_json("fuzz-token", url, body, signature);
  (void)vox::twilio::signature_url_variants(url);
  (void)vox::net::form_value(form, "CallSid");
  return 0;
}
