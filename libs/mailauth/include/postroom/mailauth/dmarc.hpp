// DMARC (RFC 7489): the author domain from the From field, policy discovery (the From
// domain, then its Organizational Domain), identifier alignment of SPF and DKIM, and the
// disposition the published policy asks for.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/base/header_section.hpp"
#include "postroom/mailauth/dkim.hpp"
#include "postroom/mailauth/dns.hpp"
#include "postroom/mailauth/public_suffix.hpp"
#include "postroom/mailauth/spf.hpp"

namespace postroom::mailauth {

enum class DmarcPolicy { none, quarantine, reject };
const char* dmarc_policy_name(DmarcPolicy policy);

struct DmarcRecord {
  DmarcPolicy policy = DmarcPolicy::none;
  std::optional<DmarcPolicy> subdomain_policy;  // sp=
  bool strict_dkim = false;                     // adkim=s
  bool strict_spf = false;                      // aspf=s
  int pct = 100;
};

// A TXT record's text; nullopt when it is not a usable DMARC record (§6.3, §6.6.3).
std::optional<DmarcRecord> parse_dmarc_record(std::string_view text);

// The domain of the single author address in the From field(s) (§6.6.1), lower-case; an
// error when there is no From, or several authors in different domains.
Result<std::string> author_domain(const HeaderSection& headers);

enum class DmarcResult { none, pass, fail, temperror, permerror };
const char* dmarc_result_name(DmarcResult result);

struct DmarcInput {
  std::string from_domain;
  SpfResult spf = SpfResult::none;
  std::string spf_domain;  // the domain SPF checked (MAIL FROM's, or HELO's for <>)
  std::vector<DkimOutcome> dkim;
  // A number in [0, 100) drawn by the caller: the message is subject to the policy when it
  // is below pct= (§6.6.4). Passed in so the evaluation stays deterministic.
  int pct_sample = 0;
};

struct DmarcOutcome {
  DmarcResult result = DmarcResult::none;
  std::string from_domain;
  DmarcPolicy published = DmarcPolicy::none;    // p= or sp=, whichever applies
  DmarcPolicy disposition = DmarcPolicy::none;  // what to do: none unless it failed
  bool spf_aligned = false;
  bool dkim_aligned = false;
  std::string reason;
};

// nullopt: a TXT answer it needs is not in `dns` yet.
std::optional<DmarcOutcome> dmarc_check(const DmarcInput& input, const PublicSuffixList& psl,
                                        DnsView& dns);

}  // namespace postroom::mailauth
