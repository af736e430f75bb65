// DMARC record parsing (RFC 7489 §6.3), author domain (§6.6.1), policy discovery (§6.6.3)
// and alignment (§3.1).
#include "postroom/mailauth/dmarc.hpp"

#include "tag_list.hpp"
#include "text.hpp"

namespace postroom::mailauth {

const char* dmarc_policy_name(DmarcPolicy policy) {
  switch (policy) {
    case DmarcPolicy::none:
      return "none";
    case DmarcPolicy::quarantine:
      return "quarantine";
    case DmarcPolicy::reject:
      return "reject";
  }
  return "none";
}

const char* dmarc_result_name(DmarcResult result) {
  switch (result) {
    case DmarcResult::none:
      return "none";
    case DmarcResult::pass:
      return "pass";
    case DmarcResult::fail:
      return "fail";
    case DmarcResult::temperror:
      return "temperror";
    case DmarcResult::permerror:
      return "permerror";
  }
  return "none";
}

namespace {

std::optional<DmarcPolicy> policy_of(std::string_view value) {
  std::string v = lower(value);
  if (v == "none") return DmarcPolicy::none;
  if (v == "quarantine") return DmarcPolicy::quarantine;
  if (v == "reject") return DmarcPolicy::reject;
  return std::nullopt;
}

// Removes comments and quoted strings (their text cannot hold the address we look for,
// and their commas and angle brackets must not split it).
std::string without_comments_and_quotes(std::string_view value) {
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if ((quoted || depth > 0) && c == '\\') {
      ++i;
      continue;
    }
    if (quoted) {
      if (c == '"') quoted = false;
      continue;
    }
    if (c == '"' && depth == 0) {
      quoted = true;
      continue;
    }
    if (c == '(') {
      ++depth;
      continue;
    }
    if (c == ')' && depth > 0) {
      --depth;
      continue;
    }
    if (depth == 0) out += c;
  }
  return out;
}

}  // namespace

std::optional<DmarcRecord> parse_dmarc_record(std::string_view text) {
  auto tags = parse_tag_list(text);
  if (!tags || tags->empty() || (*tags)[0].name != "v" || (*tags)[0].value != "DMARC1")
    return std::nullopt;
  DmarcRecord record;
  const Tag* p = find_tag(*tags, "p");
  std::optional<DmarcPolicy> policy = p ? policy_of(p->value) : std::nullopt;
  if (!policy) {
    // §6.6.3: without a valid p= the record counts only when it asks for reports (rua=),
    // and then as p=none.
    if (!find_tag(*tags, "rua")) return std::nullopt;
    policy = DmarcPolicy::none;
  }
  record.policy = *policy;
  if (const Tag* sp = find_tag(*tags, "sp")) record.subdomain_policy = policy_of(sp->value);
  if (const Tag* a = find_tag(*tags, "adkim")) record.strict_dkim = lower(a->value) == "s";
  if (const Tag* a = find_tag(*tags, "aspf")) record.strict_spf = lower(a->value) == "s";
  if (const Tag* pct = find_tag(*tags, "pct")) {
    int value = 0;
    bool ok = !pct->value.empty() && pct->value.size() <= 3;
    for (char c : pct->value) {
      if (!is_digit(c)) ok = false;
      value = value * 10 + (c - '0');
    }
    if (ok && value <= 100) record.pct = value;
  }
  return record;
}

Result<std::string> author_domain(const HeaderSection& headers) {
  std::string domain;
  std::size_t authors = 0;
  for (const HeaderSection::Field& field : headers.fields()) {
    if (!header_name_equals(field.name, "From")) continue;
    std::string value = without_comments_and_quotes(field.value);
    // A group ("Friends: a@x, b@y;") lists its members after the colon.
    if (std::size_t colon = value.find(':'); colon != std::string::npos)
      value = value.substr(colon + 1);
    for (std::string_view part : split(value, ',')) {
      std::string_view address = trim(part);
      if (address.empty() || address == ";") continue;
      if (std::size_t open = address.find('<'); open != std::string_view::npos) {
        std::size_t close = address.find('>', open);
        if (close == std::string_view::npos) return fail("malformed From address");
        address = address.substr(open + 1, close - open - 1);
      }
      std::size_t at = address.rfind('@');
      if (at == std::string_view::npos) return fail("From address without a domain");
      std::string d = lower(trim(address.substr(at + 1)));
      while (!d.empty() && (d.back() == ';' || d.back() == '.' || d.back() == ' ')) d.pop_back();
      if (d.empty()) return fail("From address without a domain");
      ++authors;
      if (!domain.empty() && d != domain) return fail("From names authors in several domains");
      domain = d;
    }
  }
  if (authors == 0) return fail("no From address");
  return domain;
}

namespace {

bool aligned(const std::string& a, const std::string& b, bool strict, const PublicSuffixList& psl) {
  if (iequals(a, b)) return true;
  if (strict || a.empty() || b.empty()) return false;
  return psl.organizational_domain(a) == psl.organizational_domain(b);
}

struct Found {
  enum class State { pending, none, temperror, found } state = State::none;
  DmarcRecord record;
};

Found discover(DnsView& dns, const std::string& domain) {
  auto answer = dns.lookup(DnsType::txt, "_dmarc." + domain);
  if (!answer) return {Found::State::pending, {}};
  if (answer->status == DnsStatus::temporary) return {Found::State::temperror, {}};
  std::optional<DmarcRecord> only;
  int count = 0;
  for (const std::string& txt : answer->records) {
    // §6.6.3: only records that start with "v=DMARC1"; more than one means none.
    if (!trim(txt).starts_with("v=DMARC1")) continue;
    ++count;
    only = parse_dmarc_record(txt);
  }
  if (count != 1 || !only) return {Found::State::none, {}};
  return {Found::State::found, *only};
}

}  // namespace

std::optional<DmarcOutcome> dmarc_check(const DmarcInput& input, const PublicSuffixList& psl,
                                        DnsView& dns) {
  DmarcOutcome out;
  out.from_domain = input.from_domain;
  std::string org = psl.organizational_domain(input.from_domain);
  Found found = discover(dns, input.from_domain);
  bool at_org = false;
  if (found.state == Found::State::none && org != input.from_domain) {
    found = discover(dns, org);
    at_org = true;
  }
  switch (found.state) {
    case Found::State::pending:
      return std::nullopt;
    case Found::State::temperror:
      out.result = DmarcResult::temperror;
      out.reason = "DNS error looking up the DMARC record";
      return out;
    case Found::State::none:
      out.result = DmarcResult::none;
      out.reason = "no DMARC record";
      return out;
    case Found::State::found:
      break;
  }
  const DmarcRecord& record = found.record;
  out.published = record.policy;
  if (at_org && record.subdomain_policy) out.published = *record.subdomain_policy;

  out.spf_aligned = input.spf == SpfResult::pass &&
                    aligned(input.spf_domain, input.from_domain, record.strict_spf, psl);
  for (const DkimOutcome& d : input.dkim)
    if (d.result == DkimResult::pass &&
        aligned(d.domain, input.from_domain, record.strict_dkim, psl))
      out.dkim_aligned = true;
  if (out.spf_aligned || out.dkim_aligned) {
    out.result = DmarcResult::pass;
    return out;
  }
  out.result = DmarcResult::fail;
  out.reason = "neither SPF nor DKIM aligned with " + input.from_domain;
  out.disposition = out.published;
  // §6.6.4: outside the sampled percentage the next weaker policy applies.
  if (input.pct_sample >= record.pct) {
    if (out.disposition == DmarcPolicy::reject) {
      out.disposition = DmarcPolicy::quarantine;
    } else if (out.disposition == DmarcPolicy::quarantine) {
      out.disposition = DmarcPolicy::none;
    }
  }
  return out;
}

}  // namespace postroom::mailauth
