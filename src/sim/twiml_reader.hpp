#pragma once
// Reads TwiML as Twilio does before it runs a call's document: a small XML reader
// (declaration, comments, elements, attributes in either quote style, character
// entities, text) producing a tree of verbs. Used by the Twilio emulator and the
// simulated caller; our own TwiML is written by twilio/twiml.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vox::sim {

struct TwimlNode {
  std::string name;                           // "Response", "Say", "Connect", ...
  std::map<std::string, std::string> attrs;   // unescaped values
  std::string text;                           // unescaped text content, trimmed
  std::vector<TwimlNode> children;

  // The value of attribute `key`, or `fallback`.
  std::string attr(const std::string& key, const std::string& fallback = {}) const {
    const auto it = attrs.find(key);
    return it == attrs.end() ? fallback : it->second;
  }
  // The first child named `child`, or null.
  const TwimlNode* child(std::string_view child) const {
    for (const auto& c : children)
      if (c.name == child) return &c;
    return nullptr;
  }
};

struct TwimlParse {
  std::optional<TwimlNode> root;  // the <Response> element
  std::string error;              // why there is none (Twilio: 12100 Document parse failure)
};

// Parses a TwiML document; the root must be <Response>.
TwimlParse parse_twiml(std::string_view xml);

// Replaces the five predefined XML entities and numeric character references.
std::string xml_unescape(std::string_view s);

}  // namespace vox::sim
