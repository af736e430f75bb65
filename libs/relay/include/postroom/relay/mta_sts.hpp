// MTA-STS (RFC 8461): the DNS TXT record, the policy file and MX pattern matching.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::relay {

enum class MtaStsMode { enforce, testing, none };
std::string_view to_string(MtaStsMode mode);

struct MtaStsPolicy {
  MtaStsMode mode = MtaStsMode::none;
  std::vector<std::string> mx;  // patterns: "mail.example.com" or "*.example.net"
  std::int64_t max_age = 0;     // seconds
  std::string id;               // from the TXT record the policy was fetched for
};

// RFC 8461 §3.2: one policy cached at most a year.
inline constexpr std::int64_t kMtaStsMaxAge = 31'557'600;
// RFC 8461 §3.3: a policy file larger than 64 KiB is refused.
inline constexpr std::size_t kMtaStsMaxPolicySize = 64 * 1024;

// RFC 8461 §3.1: the id of the one TXT record at _mta-sts.DOMAIN starting with "v=STSv1;"
// (records that do not start so are ignored). nullopt when there is none, or more than
// one, or its id is malformed: the domain then has no policy to fetch.
std::optional<std::string> parse_mta_sts_txt(const std::vector<std::string>& records);

// RFC 8461 §3.2: "key: value" lines (CRLF or LF); version STSv1, a mode, max_age and,
// unless the mode is none, at least one mx. Unknown keys are ignored.
Result<MtaStsPolicy> parse_mta_sts_policy(std::string_view text);

// RFC 8461 §4.1: `host` matches `pattern` case-insensitively; "*.example.net" matches one
// leftmost label ("mx1.example.net", not "a.b.example.net" nor "example.net").
bool mta_sts_mx_matches(std::string_view pattern, std::string_view host);
bool mta_sts_allows(const MtaStsPolicy& policy, std::string_view host);

}  // namespace postroom::relay
