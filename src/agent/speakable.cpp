#include "agent/speakable.hpp"

#include "agent/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace vox::agent {
namespace {

using text::is_space;
using text::trimmed;

int words_in(std::string_view s) {
  int n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool sp = is_space(c);
    if (!sp && !in_word) ++n;
    in_word = !sp;
  }
  return n;
}

// Lower-case words (without their final dot) after which a dot is not a sentence end.
constexpr std::array<std::string_view, 33> kAbbreviations = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "inc", "ltd",
    "co", "mt", "approx", "u.s", "u.k", "dept", "est", "fig", "jan", "feb", "aug", "sept", "oct", "nov", "dec", "ave",
    "min"};

}  // namespace

bool abbreviation_before(std::string_view text, std::size_t dot) {
  std::size_t start = dot;
  while (start > 0 && !is_space(text[start - 1]) && text[start - 1] != '(' && text[start - 1] != '"') --start;
  std::string word;
  for (std::size_t i = start; i < dot; ++i) word += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  if (word.empty()) return false;
  // A single letter is an initial ("J. Smith"), unless it is the pronoun "I".
  if (word.size() == 1 && std::isalpha(static_cast<unsigned char>(word[0]))) return word != "i";
  return std::find(kAbbreviations.begin(), kAbbreviations.end(), word) != kAbbreviations.end();
}

bool SpeakableSplitter::cut_after(std::size_t i, bool clause_allowed) const {
  const char c = buffer_[i];
  if (c == '\n') return true;
  // A mark ends a piece only when a space follows it: inside "3.5", "1,000", "10:30",
  // "example.com" or "a@b.org" the next character is not a space.
  if (i + 1 >= buffer_.size() || !is_space(buffer_[i + 1])) return false;
  if (c == '!' || c == '?') return true;
  if (c == '.') return !abbreviation_before(buffer_, i);
  if (clause_allowed && (c == ',' || c == ';' || c == ':' || (c == '-' && i > 0 && is_space(buffer_[i - 1])))) {
    return words_in(std::string_view(buffer_).substr(0, i + 1)) >= first_clause_words_;
  }
  return false;
}

std::vector<std::string> SpeakableSplitter::feed(std::string_view text) {
  buffer_.append(text);
  std::vector<std::string> out;
  std::size_t i = scanned_;
  while (i < buffer_.size()) {
    const bool clause_allowed = pieces_ == 0 && first_clause_words_ > 0;
    // The last character can only be judged once the next one has arrived.
    if (buffer_[i] != '\n' && i + 1 >= buffer_.size()) break;
    if (!cut_after(i, clause_allowed)) {
      ++i;
      continue;
    }
    auto piece = trimmed(std::string_view(buffer_).substr(0, i + 1));
    buffer_.erase(0, i + 1);
    i = 0;
    if (!piece.empty()) {
      out.push_back(std::move(piece));
      ++pieces_;
    }
  }
  scanned_ = i;
  return out;
}

std::string SpeakableSplitter::finish() {
  auto rest = trimmed(buffer_);
  buffer_.clear();
  scanned_ = 0;
  if (!rest.empty()) ++pieces_;
  return rest;
}

}  // namespace vox::agent
