// Enough of SPF (RFC 7208) to tell whether a domain's record lets the box's own addresses
// send: the mechanisms that name addresses (ip4, ip6, a, mx, include, all) and redirect.
#pragma once

#include <string>
#include <vector>

#include "postroom/dnsadmin/lookup.hpp"

namespace postroom::dnsadmin {

struct SpfVerdict {
  enum class Result { pass, fail, softfail, neutral, none, error } result = Result::none;
  std::string detail;  // the mechanism that matched, or why it is an error
};

// The SPF records ("v=spf1 ...") among a domain's TXT records.
std::vector<std::string> spf_records(const std::vector<std::string>& txt);
// Evaluates `domain`'s SPF for `ip`, following include and redirect (at most 10 lookups,
// RFC 7208 §4.6.4). exists, ptr and macros count as not matching.
SpfVerdict evaluate_spf(Lookup& dns, const std::string& domain, const std::string& ip);
const char* to_string(SpfVerdict::Result result);

}  // namespace postroom::dnsadmin
