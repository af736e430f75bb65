// Small ASCII helpers shared by the checks (internal).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postroom::mailauth {

inline char lower_char(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower_char(c);
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  return true;
}

inline bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

inline bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// Without leading and trailing whitespace (space, tab, CR, LF).
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char delimiter);

// `name` ends with `suffix` on a label boundary (or equals it), ignoring case.
bool is_subdomain_of(std::string_view name, std::string_view suffix);

}  // namespace postroom::mailauth
