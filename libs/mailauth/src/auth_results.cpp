// Writing Authentication-Results (RFC 8601 §2.2) and reading the authserv-id of one.
#include "postroom/mailauth/auth_results.hpp"

#include "text.hpp"

namespace postroom::mailauth {

namespace {

// RFC 2045 token characters: what a value may hold without quotes.
bool is_token_char(char c) {
  auto b = static_cast<unsigned char>(c);
  if (b <= 0x20 || b >= 0x7f) return false;
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

// A pvalue (§2.2): a token, a local-part@domain of dot-atom characters, or a quoted-string.
std::string pvalue(std::string_view v) {
  bool plain = !v.empty();
  int ats = 0;
  for (char c : v) {
    if (c == '@') {
      ++ats;
    } else if (!is_token_char(c)) {
      plain = false;
    }
  }
  if (plain && ats <= 1) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A comment's text with parentheses and backslashes escaped, control characters dropped.
std::string comment_text(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) continue;
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

void AuthResults::add(std::string method, std::string result, std::string comment,
                      std::vector<std::pair<std::string, std::string>> properties) {
  entries_.push_back(
      {std::move(method), std::move(result), std::move(comment), std::move(properties)});
}

std::string AuthResults::value() const {
  std::string out = authserv_id_;
  if (entries_.empty()) return out + "; none";
  for (const Entry& e : entries_) {
    out += ";\r\n\t" + e.method + "=" + e.result;
    if (!e.comment.empty()) out += " (" + comment_text(e.comment) + ")";
    for (const auto& [property, value] : e.properties) out += " " + property + "=" + pvalue(value);
  }
  return out;
}

std::string authserv_id_of(std::string_view value) {
  std::string out;
  int depth = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (depth > 0) {
      if (c == '\\') {
        ++i;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        --depth;
      }
      continue;
    }
    if (c == '(') {
      if (!out.empty()) break;
      ++depth;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!out.empty()) break;
      continue;
    }
    if (c == ';') break;
    out += c;
  }
  if (out.size() >= 2 && out.front() == '"' && out.back() == '"')
    out = out.substr(1, out.size() - 2);
  return out;
}

}  // namespace postroom::mailauth
