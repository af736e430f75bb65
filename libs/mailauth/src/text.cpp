// Small ASCII helpers shared by the checks.
#include "text.hpp"

namespace postroom::mailauth {

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char delimiter) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t at = s.find(delimiter, start);
    if (at == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

bool is_subdomain_of(std::string_view name, std::string_view suffix) {
  if (iequals(name, suffix)) return true;
  if (name.size() <= suffix.size()) return false;
  return name[name.size() - suffix.size() - 1] == '.' &&
         iequals(name.substr(name.size() - suffix.size()), suffix);
}

}  // namespace postroom::mailauth
