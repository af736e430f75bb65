// RFC 5322 §3.4 address lists: a tokenizer that drops comments and folding, then mailboxes
// split at commas and group delimiters, each taken from its angle brackets when it has them.
#include "postroom/base/address_list.hpp"

namespace postroom {

namespace {

struct Token {
  enum class Kind { word, special } kind;
  std::string text;  // a word as written (quotes and domain-literal brackets kept)
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// RFC 5322 specials, but '.' stays inside words so that dot-atoms remain one word.
bool is_special(char c) {
  return c == '<' || c == '>' || c == '@' || c == ',' || c == ':' || c == ';';
}

Result<std::vector<Token>> tokenize(std::string_view text) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (is_space(c)) {
      ++i;
    } else if (c == '(') {
      // A comment (RFC 5322 §3.2.2), nested, with quoted-pairs.
      int depth = 0;
      for (; i < text.size(); ++i) {
        if (text[i] == '\\') {
          ++i;
        } else if (text[i] == '(') {
          ++depth;
        } else if (text[i] == ')' && --depth == 0) {
          break;
        }
      }
      if (i >= text.size()) return fail("unterminated comment");
      ++i;
    } else if (is_special(c)) {
      out.push_back({Token::Kind::special, std::string(1, c)});
      ++i;
    } else {
      // A word: atoms, quoted strings and domain literals, run together as written.
      std::string word;
      while (i < text.size() && !is_space(text[i]) && !is_special(text[i]) && text[i] != '(') {
        char open = text[i];
        if (open == '"' || open == '[') {
          char close = open == '"' ? '"' : ']';
          std::size_t start = i++;
          while (i < text.size() && text[i] != close) i += text[i] == '\\' ? 2 : 1;
          if (i >= text.size())
            return fail(open == '"' ? "unterminated quoted string" : "unterminated domain literal");
          word.append(text.substr(start, ++i - start));
        } else {
          word += text[i++];
        }
      }
      out.push_back({Token::Kind::word, std::move(word)});
    }
  }
  return out;
}

// One mailbox's tokens: the part in angle brackets when there is one, else all of it.
Result<std::string> mailbox(const std::vector<Token>& tokens) {
  std::string plain, angled;
  bool in_angle = false, had_angle = false;
  for (const auto& t : tokens) {
    if (t.kind == Token::Kind::special && t.text == "<") {
      if (in_angle || had_angle) return fail("unexpected '<'");
      in_angle = had_angle = true;
    } else if (t.kind == Token::Kind::special && t.text == ">") {
      if (!in_angle) return fail("unexpected '>'");
      in_angle = false;
    } else if (in_angle) {
      angled += t.text;
    } else {
      plain += t.text;
    }
  }
  if (in_angle) return fail("unterminated angle bracket");
  if (!had_angle) return plain;
  // An obsolete route (RFC 5322 §4.4: "<@a,@b:user@c>") is dropped.
  if (angled.starts_with('@')) {
    auto colon = angled.find(':');
    if (colon != std::string::npos) angled.erase(0, colon + 1);
  }
  return angled;
}

}  // namespace

Result<std::vector<std::string>> address_list(std::string_view text) {
  auto tokens = tokenize(text);
  if (!tokens) return std::unexpected(tokens.error());
  std::vector<std::string> out;
  std::vector<Token> current;
  bool in_angle = false;
  auto finish = [&]() -> Result<void> {
    if (current.empty()) return {};
    auto address = mailbox(current);
    if (!address) return std::unexpected(address.error());
    if (!address->empty()) out.push_back(std::move(*address));
    current.clear();
    return {};
  };
  for (auto& t : *tokens) {
    bool special = t.kind == Token::Kind::special;
    if (special && t.text == "<") in_angle = true;
    if (special && t.text == ">") in_angle = false;
    if (special && !in_angle && (t.text == "," || t.text == ";")) {
      if (auto r = finish(); !r) return std::unexpected(r.error());
    } else if (special && !in_angle && t.text == ":") {
      current.clear();  // what came before was a group's display name
    } else {
      current.push_back(std::move(t));
    }
  }
  if (auto r = finish(); !r) return std::unexpected(r.error());
  return out;
}

}  // namespace postroom
