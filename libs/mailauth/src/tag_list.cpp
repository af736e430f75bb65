// Tag lists (RFC 6376 §3.2) and the base64 their values carry.
#include "tag_list.hpp"

#include "text.hpp"

namespace postroom::mailauth {

namespace {

bool is_fws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

std::optional<std::vector<Tag>> parse_tag_list(std::string_view text) {
  std::vector<Tag> tags;
  auto parts = split(text, ';');
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string_view part = trim(parts[i]);
    // A trailing ";" is allowed (§3.2: tag-list = tag-spec *( ";" tag-spec ) [ ";" ]).
    if (part.empty() && i + 1 == parts.size()) break;
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view name = trim(part.substr(0, eq));
    if (name.empty() || !is_alpha(name[0])) return std::nullopt;
    for (char c : name)
      if (!is_alpha(c) && !is_digit(c) && c != '_') return std::nullopt;
    for (const Tag& t : tags)
      if (t.name == name) return std::nullopt;
    tags.push_back({std::string(name), std::string(trim(part.substr(eq + 1)))});
  }
  return tags;
}

const Tag* find_tag(const std::vector<Tag>& tags, std::string_view name) {
  for (const Tag& t : tags)
    if (t.name == name) return &t;
  return nullptr;
}

std::string strip_whitespace(std::string_view value) {
  std::string out;
  for (char c : value)
    if (!is_fws(c)) out += c;
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  int padding = 0;
  for (char c : text) {
    if (is_fws(c)) continue;
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      ++padding;
      continue;
    } else {
      return std::nullopt;
    }
    if (padding) return std::nullopt;  // data after padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  if (padding > 2) return std::nullopt;
  return out;
}

}  // namespace postroom::mailauth
