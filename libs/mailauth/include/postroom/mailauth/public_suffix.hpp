// The Public Suffix List (publicsuffix.org, Debian's `publicsuffix` package) and the
// Organizational Domain that DMARC's relaxed alignment compares (RFC 7489 §3.2).
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>

#include "postroom/base/error.hpp"

namespace postroom::mailauth {

class PublicSuffixList {
 public:
  static constexpr const char* kDebianPath = "/usr/share/publicsuffix/public_suffix_list.dat";

  // The list's text: one rule a line, "//" comments, "*." wildcards, "!" exceptions.
  static PublicSuffixList parse(std::string_view text);
  static Result<PublicSuffixList> load(const std::string& path);

  // The public suffix plus one label (RFC 7489 §3.2 steps 3 and 4), lower-case; the domain
  // itself when it has no label beyond its public suffix.
  std::string organizational_domain(std::string_view domain) const;
  std::size_t rules() const { return normal_.size() + wildcard_.size() + exception_.size(); }

 private:
  std::unordered_set<std::string> normal_;
  std::unordered_set<std::string> wildcard_;   // "*.ck" kept as "ck"
  std::unordered_set<std::string> exception_;  // "!www.ck" kept as "www.ck"
};

}  // namespace postroom::mailauth
