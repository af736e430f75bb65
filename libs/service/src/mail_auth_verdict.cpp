// Turning SPF/DKIM/DMARC results into Authentication-Results (RFC 8601), a tag or a refusal.
#include "postroom/service/mail_auth_verdict.hpp"

#include "postroom/mailauth/auth_results.hpp"

namespace postroom::service {

namespace {

using config::CheckMode;
using mailauth::DkimResult;
using mailauth::DmarcResult;
using mailauth::SpfResult;

// The one word per method for the log line: the best DKIM result wins (a pass among
// failures is what DMARC looks at).
std::string dkim_word(const std::optional<std::vector<mailauth::DkimOutcome>>& dkim) {
  if (!dkim) return "off";
  if (dkim->empty()) return "none";
  static const DkimResult order[] = {DkimResult::pass,      DkimResult::fail,
                                     DkimResult::temperror, DkimResult::permerror,
                                     DkimResult::policy,    DkimResult::neutral};
  for (DkimResult r : order)
    for (const auto& d : *dkim)
      if (d.result == r) return mailauth::dkim_result_name(r);
  return "none";
}

bool dkim_failed(const std::vector<mailauth::DkimOutcome>& dkim) {
  bool failed = false;
  for (const auto& d : dkim) {
    if (d.result == DkimResult::pass) return false;
    if (d.result == DkimResult::fail) failed = true;
  }
  return failed;
}

}  // namespace

MailAuthDecision decide_mail_auth(const MailAuthResults& r, const config::MailAuth& config) {
  MailAuthDecision out;
  mailauth::AuthResults ar(r.authserv_id);
  bool temperror = false;

  if (r.spf) {
    std::string comment = r.spf->result == SpfResult::fail ? r.spf->explanation : r.spf->reason;
    if (r.mail_from.empty()) {
      ar.add("spf", mailauth::spf_result_name(r.spf->result), comment, {{"smtp.helo", r.helo}});
    } else {
      ar.add("spf", mailauth::spf_result_name(r.spf->result), comment,
             {{"smtp.mailfrom", r.mail_from}});
    }
    temperror |= r.spf->result == SpfResult::temperror;
  }
  if (r.spf_helo && !r.mail_from.empty())
    ar.add("spf", mailauth::spf_result_name(r.spf_helo->result), r.spf_helo->reason,
           {{"smtp.helo", r.helo}});
  if (r.dkim) {
    if (r.dkim->empty()) ar.add("dkim", "none", "", {});
    for (const auto& d : *r.dkim) {
      std::vector<std::pair<std::string, std::string>> props;
      if (!d.domain.empty()) props.emplace_back("header.d", d.domain);
      if (!d.selector.empty()) props.emplace_back("header.s", d.selector);
      if (!d.identity.empty()) props.emplace_back("header.i", d.identity);
      if (!d.algorithm.empty()) props.emplace_back("header.a", d.algorithm);
      if (!d.b_prefix.empty()) props.emplace_back("header.b", d.b_prefix);
      std::string comment = d.reason;
      if (d.testing) comment += comment.empty() ? "key in testing mode" : ", key in testing mode";
      ar.add("dkim", mailauth::dkim_result_name(d.result), comment, std::move(props));
      temperror |= d.result == DkimResult::temperror;
    }
  }
  std::string dmarc_word = "off";
  if (r.dmarc_checked) {
    if (!r.author_domain) {
      dmarc_word = "permerror";
      ar.add("dmarc", "permerror", r.author_domain.error().message, {});
    } else if (r.dmarc) {
      const auto& d = *r.dmarc;
      dmarc_word = mailauth::dmarc_result_name(d.result);
      std::string comment;
      if (d.result == DmarcResult::pass || d.result == DmarcResult::fail)
        comment = std::string("p=") + mailauth::dmarc_policy_name(d.published) +
                  " dis=" + mailauth::dmarc_policy_name(d.disposition);
      else if (!d.reason.empty())
        comment = d.reason;
      ar.add("dmarc", dmarc_word, comment, {{"header.from", d.from_domain}});
      temperror |= d.result == DmarcResult::temperror;
    }
  }
  out.auth_results = ar.value();

  // Refusals: only by a check in enforce mode.
  std::string refusal;
  bool spf_fail = r.spf && r.spf->result == SpfResult::fail;
  bool dkim_fail = r.dkim && dkim_failed(*r.dkim);
  bool dmarc_fail = r.dmarc && r.dmarc->result == DmarcResult::fail;
  auto disposition = dmarc_fail ? r.dmarc->disposition : mailauth::DmarcPolicy::none;
  if (config.dmarc == CheckMode::enforce && disposition == mailauth::DmarcPolicy::reject)
    refusal = "DMARC policy of " + r.dmarc->from_domain + " rejects this unauthenticated message";
  else if (config.spf == CheckMode::enforce && spf_fail)
    refusal = "SPF of " + r.spf->domain + " does not allow this sender: " + r.spf->explanation;
  else if (config.dkim == CheckMode::enforce && dkim_fail)
    refusal = "DKIM signature did not verify";

  // Tags: an SPF failure; DMARC only where the policy asks for more than none; a DNS failure
  // (temperror) unless the config asks for a retry instead. A DKIM signature that fails is
  // treated as no signature (RFC 6376 §6.3): mailing lists break signatures every day, and
  // an unsigned message is not tagged either. It still counts for DMARC, and it is in the
  // Authentication-Results for the reader.
  out.tag = (config.spf != CheckMode::off && spf_fail) ||
            (config.dmarc != CheckMode::off && disposition != mailauth::DmarcPolicy::none) ||
            temperror;

  out.verdict.log = "spf=" + std::string(r.spf ? mailauth::spf_result_name(r.spf->result) : "off") +
                    " dkim=" + dkim_word(r.dkim) + " dmarc=" + dmarc_word;
  if (!refusal.empty()) {
    out.verdict.action = FilterVerdict::Action::reject;
    out.verdict.code = 550;
    out.verdict.enhanced = "5.7.1";
    out.verdict.text = refusal;
    out.tag = false;
    out.verdict.log += " action=reject";
  } else if (temperror && config.on_dns_error == config::DnsErrorAction::tempfail) {
    out.verdict.action = FilterVerdict::Action::tempfail;
    out.verdict.code = 451;
    out.verdict.enhanced = "4.7.0";
    out.verdict.text = "DNS lookups for SPF/DKIM/DMARC failed, try again later";
    out.tag = false;
    out.verdict.log += " action=tempfail";
  } else {
    out.verdict.log += out.tag ? " action=tag" : " action=accept";
  }
  // One line, no CR/LF, whatever a DNS explanation held.
  for (char& c : out.verdict.text)
    if (c == '\r' || c == '\n') c = ' ';
  if (out.verdict.text.size() > 200) out.verdict.text.resize(200);
  return out;
}

std::size_t apply_mail_auth(const MailAuthDecision& decision, const std::string& authserv_id,
                            const std::string& subject_tag, HeaderSection& headers) {
  // RFC 8601 §5: fields claiming our authserv-id did not come from us.
  std::size_t removed = headers.remove_if([&](const HeaderSection::Field& f) {
    if (!header_name_equals(f.name, "Authentication-Results")) return false;
    std::string id = mailauth::authserv_id_of(f.value);
    return id.size() == authserv_id.size() &&
           std::equal(id.begin(), id.end(), authserv_id.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  });
  if (decision.tag) {
    headers.remove_if(
        [](const HeaderSection::Field& f) { return header_name_equals(f.name, "X-Spam-Flag"); });
    if (const HeaderSection::Field* subject = headers.find("Subject")) {
      std::string value = subject->value;
      std::size_t start = value.find_first_not_of(" \t");
      value = start == std::string::npos ? std::string() : value.substr(start);
      if (!value.starts_with(subject_tag))
        headers.change("Subject", 1, subject_tag + (value.empty() ? "" : " " + value));
    } else {
      headers.append("Subject", subject_tag);
    }
    headers.prepend("X-Spam-Flag", "YES");
  }
  headers.prepend("Authentication-Results", decision.auth_results);
  return removed;
}

}  // namespace postroom::service
