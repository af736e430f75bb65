// What the SPF, DKIM and DMARC results of one message mean for it under the config: the
// Authentication-Results field, the tag, the refusal, the log words. No I/O: the filter
// (mail_auth_filter.cpp) gathers the results, this decides.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/base/header_section.hpp"
#include "postroom/config/config.hpp"
#include "postroom/mailauth/dkim.hpp"
#include "postroom/mailauth/dmarc.hpp"
#include "postroom/mailauth/spf.hpp"
#include "postroom/service/message_filter.hpp"

namespace postroom::service {

struct MailAuthResults {
  std::string authserv_id;  // this server's hostname
  std::string mail_from;    // "" for the null reverse-path
  std::string helo;
  std::optional<mailauth::SpfOutcome> spf;       // MAIL FROM (or HELO for <>); nullopt: not run
  std::optional<mailauth::SpfOutcome> spf_helo;  // the HELO identity, when it is a domain
  std::optional<std::vector<mailauth::DkimOutcome>> dkim;  // nullopt: not run
  bool dmarc_checked = false;
  Result<std::string> author_domain = std::string();  // the From domain, or why there is none
  std::optional<mailauth::DmarcOutcome> dmarc;
};

struct MailAuthDecision {
  FilterVerdict verdict;     // accept, reject (550 5.7.1) or tempfail (451 4.7.0); log words
  bool tag = false;          // X-Spam-Flag: YES and the subject tag
  std::string auth_results;  // the Authentication-Results value
};

MailAuthDecision decide_mail_auth(const MailAuthResults& results, const config::MailAuth& config);

// Edits the header section: forged Authentication-Results claiming `authserv_id` go, the new
// one goes on top, and a tagged message gets X-Spam-Flag: YES (replacing any it came with)
// and `subject_tag` before its Subject. Returns how many forged fields were removed.
std::size_t apply_mail_auth(const MailAuthDecision& decision, const std::string& authserv_id,
                            const std::string& subject_tag, HeaderSection& headers);

}  // namespace postroom::service
