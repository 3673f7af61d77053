#pragma once
// Cuts a model's streamed text into pieces that can be spoken on their own, as early as
// it is safe: the first piece may end at a clause (a comma, semicolon, colon or dash
// followed by a space, once it holds a few words), every later piece at the end of a
// sentence (. ! ? followed by a space, or a line break). It never cuts inside numbers
// ("3.5", "1,000", "10:30"), after common abbreviations ("Dr.", "e.g.", "a.m.") or
// initials ("J. Smith"), or inside URLs and e-mail addresses (a cut needs a space after
// the mark, and a dot inside a token has none).
#include <string>
#include <string_view>
#include <vector>

namespace vox::agent {

class SpeakableSplitter {
 public:
  // `first_clause_words`: the least number of words the first piece may hold when it
  // ends at a clause rather than a sentence (0: never cut at a clause).
  explicit SpeakableSplitter(int first_clause_words = 4) : first_clause_words_(first_clause_words) {}

  // Adds streamed text; returns the pieces now complete (trimmed, non-empty).
  std::vector<std::string> feed(std::string_view text);
  // The stream ended: returns what is left (trimmed; empty when nothing is).
  std::string finish();
  // Pieces handed out so far.
  int pieces() const { return pieces_; }

 private:
  bool cut_after(std::size_t i, bool clause_allowed) const;
  std::string buffer_;
  std::size_t scanned_ = 0;  // positions before this were checked and hold no cut
  int first_clause_words_;
  int pieces_ = 0;
};

// Whether the word that ends just before a '.' at `dot` in `text` is an abbreviation or an
// initial, after which a dot does not end a sentence.
bool abbreviation_before(std::string_view text, std::size_t dot);

}  // namespace vox::agent
