// The Public Suffix List algorithm (publicsuffix.org/list/), read from its text form.
#include "postroom/mailauth/public_suffix.hpp"

#include <fstream>
#include <sstream>
#include <vector>

#include "text.hpp"

namespace postroom::mailauth {

PublicSuffixList PublicSuffixList::parse(std::string_view text) {
  PublicSuffixList list;
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    if (line.empty() || line.starts_with("//")) continue;
    std::size_t space = line.find_first_of(" \t");
    std::string rule = lower(line.substr(0, space));
    if (rule.starts_with("!")) {
      list.exception_.insert(rule.substr(1));
    } else if (rule.starts_with("*.")) {
      list.wildcard_.insert(rule.substr(2));
    } else {
      list.normal_.insert(rule);
    }
  }
  return list;
}

Result<PublicSuffixList> PublicSuffixList::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read the public suffix list " + path);
  std::stringstream s;
  s << in.rdbuf();
  PublicSuffixList list = parse(s.str());
  if (list.rules() == 0) return fail("no rules in the public suffix list " + path);
  return list;
}

std::string PublicSuffixList::organizational_domain(std::string_view domain_in) const {
  std::string domain = lower(domain_in);
  while (!domain.empty() && domain.back() == '.') domain.pop_back();
  std::vector<std::string_view> labels = split(domain, '.');
  auto suffix_from = [&](std::size_t i) {
    std::string s;
    for (std::size_t j = i; j < labels.size(); ++j) {
      if (j > i) s += '.';
      s.append(labels[j]);
    }
    return s;
  };
  // The public suffix starts at label `start`; the rule "*" (the top-level label) applies
  // when nothing else does. The first (longest) match from the left wins; an exception
  // rule makes its parent the public suffix.
  std::size_t start = labels.size() - 1;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::string suffix = suffix_from(i);
    if (exception_.contains(suffix)) {
      start = i + 1;
      break;
    }
    if (normal_.contains(suffix) ||
        (i + 1 < labels.size() && wildcard_.contains(suffix_from(i + 1)))) {
      start = i;
      break;
    }
  }
  if (start == 0) return domain;
  return suffix_from(start - 1);
}

}  // namespace postroom::mailauth
