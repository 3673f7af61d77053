#include "sim/twiml_reader.hpp"

#include <cctype>
#include <cstdint>
#include <stdexcept>

namespace vox::sim {
namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string trim(std::string s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

class Reader {
 public:
  explicit Reader(std::string_view xml) : s_(xml) {}

  TwimlNode document() {
    skip_prolog();
    if (!at('<')) fail("the document does not start with an element");
    TwimlNode root = element();
    skip_misc();
    if (pos_ != s_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error(why + " (at offset " + std::to_string(pos_) + ")");
  }
  bool at(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool starts(std::string_view t) const { return s_.substr(pos_, t.size()) == t; }
  void skip_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }
  void skip_past(std::string_view end) {
    const auto e = s_.find(end, pos_);
    if (e == std::string_view::npos) fail("unterminated '" + std::string(end) + "'");
    pos_ = e + end.size();
  }
  // Whitespace, comments and processing instructions.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts("<!--")) skip_past("-->");
      else if (starts("<?")) skip_past("?>");
      else return;
    }
  }
  void skip_prolog() {
    if (starts("\xEF\xBB\xBF")) pos_ += 3;  // UTF-8 byte order mark
    skip_misc();
  }
  std::string name() {
    const auto b = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' ||
                                s_[pos_] == '-' || s_[pos_] == ':' || s_[pos_] == '.'))
      ++pos_;
    if (pos_ == b) fail("expected a name");
    return std::string(s_.substr(b, pos_ - b));
  }
  TwimlNode element() {
    ++pos_;  // '<'
    TwimlNode node;
    node.name = name();
    for (;;) {
      skip_space();
      if (starts("/>")) {
        pos_ += 2;
        return node;
      }
      if (at('>')) {
        ++pos_;
        break;
      }
      std::string key = name();
      skip_space();
      if (!at('=')) fail("attribute '" + key + "' has no value");
      ++pos_;
      skip_space();
      if (!at('"') && !at('\'')) fail("attribute '" + key + "' is not quoted");
      const char q = s_[pos_++];
      const auto end = s_.find(q, pos_);
      if (end == std::string_view::npos) fail("unterminated attribute '" + key + "'");
      node.attrs[key] = xml_unescape(s_.substr(pos_, end - pos_));
      pos_ = end + 1;
    }
    std::string text;
    for (;;) {
      if (pos_ >= s_.size()) fail("<" + node.name + "> is not closed");
      if (starts("<!--")) {
        skip_past("-->");
      } else if (starts("<![CDATA[")) {
        pos_ += 9;
        const auto e = s_.find("]]>", pos_);
        if (e == std::string_view::npos) fail("unterminated CDATA");
        text.append(s_.substr(pos_, e - pos_));
        pos_ = e + 3;
      } else if (starts("</")) {
        pos_ += 2;
        const auto closing = name();
        if (closing != node.name) fail("</" + closing + "> closes <" + node.name + ">");
        skip_space();
        if (!at('>')) fail("malformed closing tag");
        ++pos_;
        node.text = trim(std::move(text));
        return node;
      } else if (at('<')) {
        node.children.push_back(element());
      } else {
        const auto e = s_.find('<', pos_);
        const auto end = e == std::string_view::npos ? s_.size() : e;
        text += xml_unescape(s_.substr(pos_, end - pos_));
        pos_ = end;
      }
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const auto semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const auto ent = s.substr(i + 1, semi - i - 1);
    if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "amp") out += '&';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (ent.size() > 1 && ent[0] == '#') {
      const bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::uint32_t cp = 0;
      try {
        cp = static_cast<std::uint32_t>(std::stoul(std::string(ent.substr(hex ? 2 : 1)), nullptr, hex ? 16 : 10));
      } catch (const std::exception&) {
        out += s[i];
        continue;
      }
      append_utf8(out, cp);
    } else {
      out += s[i];
      continue;
    }
    i = semi;
  }
  return out;
}

TwimlParse parse_twiml(std::string_view xml) {
  TwimlParse r;
  try {
    auto root = Reader(xml).document();
    if (root.name != "Response") {
      r.error = "the root element is <" + root.name + ">, not <Response>";
      return r;
    }
    r.root = std::move(root);
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

}  // namespace vox::sim
