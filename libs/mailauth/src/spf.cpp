// check_host() (RFC 7208 §4): record selection, mechanism evaluation with the DNS limits of
// §4.6.4, redirect and exp.
#include "postroom/mailauth/spf.hpp"

#include <variant>

#include "postroom/mailauth/ip_address.hpp"
#include "spf_record.hpp"
#include "text.hpp"

namespace postroom::mailauth {

const char* spf_result_name(SpfResult result) {
  switch (result) {
    case SpfResult::none:
      return "none";
    case SpfResult::neutral:
      return "neutral";
    case SpfResult::pass:
      return "pass";
    case SpfResult::fail:
      return "fail";
    case SpfResult::softfail:
      return "softfail";
    case SpfResult::temperror:
      return "temperror";
    case SpfResult::permerror:
      return "permerror";
  }
  return "none";
}

SpfRequest spf_helo_request(std::string client_ip, std::string helo) {
  SpfRequest r;
  r.client_ip = std::move(client_ip);
  r.sender = "postmaster@" + helo;
  r.helo = std::move(helo);
  return r;
}

SpfRequest spf_mail_from_request(std::string client_ip, std::string sender, std::string helo) {
  SpfRequest r;
  r.client_ip = std::move(client_ip);
  r.sender = std::move(sender);
  r.helo = std::move(helo);
  return r;
}

namespace {

// §4.6.4: at most 10 mechanisms and modifiers that query DNS, 2 void lookups, 10 MX or
// PTR names per mechanism.
constexpr int kMaxDnsTerms = 10;
constexpr int kMaxVoidLookups = 2;
constexpr std::size_t kMaxNames = 10;

// The evaluation's own result: SPF's results plus "waiting on DNS".
enum class R { none, neutral, pass, fail, softfail, temperror, permerror, pending };

struct Outcome {
  R result = R::neutral;
  std::string explanation;
  std::string reason;
};

// §4.3: a malformed or single-label domain gives "none" before any lookup.
bool valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > 254) return false;
  if (domain.back() == '.') domain.remove_suffix(1);
  auto labels = split(domain, '.');
  if (labels.size() < 2) return false;
  for (auto label : labels)
    if (label.empty() || label.size() > 63) return false;
  return true;
}

// §4.8: an expanded name longer than 253 octets loses labels on the left; a trailing dot
// is not part of the name looked up.
std::string fit_domain(std::string name) {
  while (!name.empty() && name.back() == '.') name.pop_back();
  while (name.size() > 253) {
    std::size_t dot = name.find('.');
    if (dot == std::string::npos) break;
    name.erase(0, dot + 1);
  }
  return name;
}

class Evaluator {
 public:
  Evaluator(const SpfRequest& request, DnsView& dns, IpAddress ip)
      : request_(request), dns_(dns), ip_(ip) {
    std::size_t at = request.sender.rfind('@');
    local_ = at == std::string::npos ? std::string() : request.sender.substr(0, at);
    sender_domain_ = at == std::string::npos ? request.sender : request.sender.substr(at + 1);
    if (local_.empty()) local_ = "postmaster";  // §4.3
    sender_ = local_ + "@" + sender_domain_;
  }

  const std::string& sender_domain() const { return sender_domain_; }

  Outcome check(const std::string& domain, bool top) {
    if (++depth_ > 2 * kMaxDnsTerms + 2) return {R::permerror, {}, "include loop"};
    Outcome out = check_inner(domain, top);
    --depth_;
    return out;
  }

 private:
  std::optional<DnsAnswer> lookup(DnsType type, const std::string& name) {
    // A name no DNS query can carry (an empty or over-long label, perhaps from a macro) is
    // treated as non-existent (the suite's invalid-domain cases).
    for (auto label : split(name, '.'))
      if (label.empty() || label.size() > 63) return DnsAnswer{DnsStatus::not_found, {}};
    auto answer = dns_.lookup(type, name);
    if (!answer) pending_ = true;
    return answer;
  }

  spf::MacroValues values(const std::string& domain) {
    spf::MacroValues v;
    v.sender = sender_;
    v.local = local_;
    v.sender_domain = sender_domain_;
    v.domain = domain;
    v.ip_dotted = ip_.spf_dotted();
    v.ip_readable = ip_.str();
    v.ip_version = ip_.v6 ? "ip6" : "in-addr";
    v.helo = request_.helo;
    v.receiver = request_.receiver;
    v.timestamp = std::to_string(request_.now);
    return v;
  }

  // %{p} (§7.3): a validated name of the client, preferring the domain itself or a name
  // under it; "unknown" when there is none. nullopt: waiting on DNS.
  std::optional<std::string> validated_name(const std::string& domain) {
    auto ptr = lookup(DnsType::ptr, ip_.reverse_name());
    if (!ptr) return std::nullopt;
    if (ptr->status != DnsStatus::ok) return std::string("unknown");
    std::string exact, under, any;
    std::size_t checked = 0;
    for (const std::string& name : ptr->records) {
      if (checked++ == kMaxNames) break;
      auto addresses = lookup(ip_.v6 ? DnsType::aaaa : DnsType::a, name);
      if (!addresses) return std::nullopt;
      bool valid = false;
      for (const std::string& a : addresses->records)
        if (auto parsed = IpAddress::parse(a); parsed && *parsed == ip_) valid = true;
      if (!valid) continue;
      if (iequals(name, domain) && exact.empty()) exact = name;
      if (is_subdomain_of(name, domain) && under.empty()) under = name;
      if (any.empty()) any = name;
    }
    if (!exact.empty()) return exact;
    if (!under.empty()) return under;
    if (!any.empty()) return any;
    return std::string("unknown");
  }

  // Expands a domain-spec; nullopt with pending_ set when it waits on DNS, nullopt alone
  // on a syntax error.
  std::optional<std::string> expand(const std::string& spec, const std::string& domain,
                                    bool explanation) {
    spf::MacroValues v = values(domain);
    if (spf::uses_p_macro(spec)) {
      auto p = validated_name(domain);
      if (!p) return std::nullopt;
      v.validated = *p;
    }
    auto out = spf::expand_macros(spec, v, explanation);
    if (!out) return std::nullopt;
    return explanation ? *out : fit_domain(*out);
  }

  bool count_dns_term() { return ++dns_terms_ <= kMaxDnsTerms; }
  bool count_void(const DnsAnswer& answer) {
    bool is_void = answer.status == DnsStatus::not_found ||
                   (answer.status != DnsStatus::temporary && answer.records.empty());
    if (is_void) ++void_lookups_;
    return void_lookups_ <= kMaxVoidLookups;
  }

  // What the a, mx and exists lookups share (§4.6.4, §5): a DNS error is a temperror and a
  // third void answer a permerror; nullopt when the answer can be used.
  std::optional<R> unusable(const DnsAnswer& answer, const std::string& what, std::string& error) {
    if (answer.status == DnsStatus::temporary) {
      error = "DNS error looking up " + what;
      return R::temperror;
    }
    if (!count_void(answer)) {
      error = "more than 2 void lookups";
      return R::permerror;
    }
    return std::nullopt;
  }

  bool matches_address(const std::string& text, const spf::Mechanism& m) const {
    auto address = IpAddress::parse(text);
    if (!address) return false;
    return ip_.in_network(*address, ip_.v6 ? m.cidr6 : m.cidr4);
  }

  // One mechanism: true/false for match, or a terminal result (errors, pending).
  std::variant<bool, R> match(const spf::Mechanism& m, const std::string& domain,
                              std::string& error) {
    using Kind = spf::Mechanism::Kind;
    if (m.kind == Kind::all) return true;
    if (m.kind == Kind::ip4 || m.kind == Kind::ip6)
      return ip_.in_network(m.network, ip_.v6 ? m.cidr6 : m.cidr4);
    if (!count_dns_term()) {
      error = "more than 10 DNS lookups";
      return R::permerror;
    }
    std::string target = domain;
    if (!m.domain_spec.empty()) {
      auto expanded = expand(m.domain_spec, domain, false);
      if (!expanded) {
        if (pending_) return R::pending;
        error = "bad macro in " + m.text;
        return R::permerror;
      }
      target = *expanded;
    }
    switch (m.kind) {
      case Kind::include: {
        Outcome sub = check(target, false);
        switch (sub.result) {
          case R::pass:
            return true;
          case R::fail:
          case R::softfail:
          case R::neutral:
            return false;
          case R::temperror:
          case R::pending:
            error = sub.reason;
            return sub.result;
          case R::none:
            error = "include:" + target + " has no SPF record";
            return R::permerror;
          default:
            error = sub.reason;
            return R::permerror;
        }
      }
      case Kind::a: {
        auto answer = lookup(ip_.v6 ? DnsType::aaaa : DnsType::a, target);
        if (!answer) return R::pending;
        if (auto result = unusable(*answer, target, error)) return *result;
        for (const std::string& a : answer->records)
          if (matches_address(a, m)) return true;
        return false;
      }
      case Kind::mx: {
        auto answer = lookup(DnsType::mx, target);
        if (!answer) return R::pending;
        if (auto result = unusable(*answer, "MX " + target, error)) return *result;
        if (answer->records.size() > kMaxNames) {
          error = "more than 10 MX names";
          return R::permerror;
        }
        bool matched = false;
        for (const std::string& host : answer->records) {
          auto addresses = lookup(ip_.v6 ? DnsType::aaaa : DnsType::a, host);
          if (!addresses) return R::pending;
          if (addresses->status == DnsStatus::temporary) {
            error = "DNS error looking up " + host;
            return R::temperror;
          }
          for (const std::string& a : addresses->records)
            if (matches_address(a, m)) matched = true;
          if (matched) return true;
        }
        return false;
      }
      case Kind::ptr: {
        auto ptr = lookup(DnsType::ptr, ip_.reverse_name());
        if (!ptr) return R::pending;
        // §5.5: a DNS error on the PTR lookup means no match.
        if (ptr->status == DnsStatus::temporary) return false;
        if (!count_void(*ptr)) {
          error = "more than 2 void lookups";
          return R::permerror;
        }
        std::size_t checked = 0;
        for (const std::string& name : ptr->records) {
          if (checked++ == kMaxNames) break;
          auto addresses = lookup(ip_.v6 ? DnsType::aaaa : DnsType::a, name);
          if (!addresses) return R::pending;
          bool valid = false;
          for (const std::string& a : addresses->records)
            if (auto parsed = IpAddress::parse(a); parsed && *parsed == ip_) valid = true;
          if (valid && is_subdomain_of(name, target)) return true;
        }
        return false;
      }
      case Kind::exists: {
        // §5.7: always an A query, whatever the client's address family.
        auto answer = lookup(DnsType::a, target);
        if (!answer) return R::pending;
        if (auto result = unusable(*answer, target, error)) return *result;
        return !answer->records.empty();
      }
      default:
        return false;
    }
  }

  // §6.2: the explanation of a fail; any trouble gives the default.
  std::optional<std::string> explain(const spf::Record& record, const std::string& domain) {
    if (!record.exp) return request_.default_explanation;
    auto name = expand(*record.exp, domain, false);
    if (!name) {
      if (pending_) return std::nullopt;
      return request_.default_explanation;
    }
    auto answer = lookup(DnsType::txt, *name);
    if (!answer) return std::nullopt;
    if (answer->status != DnsStatus::ok || answer->records.size() != 1)
      return request_.default_explanation;
    const std::string& text = answer->records[0];
    if (!is_ascii(text)) return request_.default_explanation;
    auto expanded = expand(text, domain, true);
    if (!expanded) {
      if (pending_) return std::nullopt;
      return request_.default_explanation;
    }
    return *expanded;
  }

  Outcome check_inner(const std::string& domain_in, bool top) {
    std::string domain = domain_in;
    if (!valid_domain(domain)) return {R::none, {}, "no valid domain"};
    if (domain.back() == '.') domain.pop_back();
    auto answer = lookup(DnsType::txt, domain);
    if (!answer) return {R::pending, {}, {}};
    if (answer->status == DnsStatus::temporary)
      return {R::temperror, {}, "DNS error looking up " + domain};
    const std::string* found = nullptr;
    for (const std::string& txt : answer->records) {
      // §4.5: "v=spf1" alone or followed by a space; other TXT records are not ours.
      if (txt.size() < 6 || !iequals(std::string_view(txt).substr(0, 6), "v=spf1")) continue;
      if (txt.size() > 6 && txt[6] != ' ') continue;
      if (found) return {R::permerror, {}, "more than one SPF record at " + domain};
      found = &txt;
    }
    if (!found) return {R::none, {}, "no SPF record at " + domain};
    if (!is_ascii(*found)) return {R::permerror, {}, "non-ASCII SPF record at " + domain};
    auto record = spf::parse_record(*found);
    if (!record) return {R::permerror, {}, "syntax error in SPF record at " + domain};

    for (const spf::Mechanism& m : record->mechanisms) {
      std::string error;
      auto matched = match(m, domain, error);
      if (auto* terminal = std::get_if<R>(&matched)) return {*terminal, {}, error};
      if (!std::get<bool>(matched)) continue;
      Outcome out;
      out.reason = "matched " + m.text + " at " + domain;
      switch (m.qualifier) {
        case '-':
          out.result = R::fail;
          break;
        case '~':
          out.result = R::softfail;
          break;
        case '?':
          out.result = R::neutral;
          break;
        default:
          out.result = R::pass;
          break;
      }
      if (out.result == R::fail && top) {
        auto explanation = explain(*record, domain);
        if (!explanation) return {R::pending, {}, {}};
        out.explanation = *explanation;
      }
      return out;
    }
    if (record->redirect) {
      if (!count_dns_term()) return {R::permerror, {}, "more than 10 DNS lookups"};
      auto target = expand(*record->redirect, domain, false);
      if (!target) {
        if (pending_) return {R::pending, {}, {}};
        return {R::permerror, {}, "bad macro in redirect"};
      }
      Outcome sub = check(*target, top);
      if (sub.result == R::none)
        return {R::permerror, {}, "redirect=" + *target + " has no SPF record"};
      return sub;
    }
    return {R::neutral, {}, "no mechanism matched at " + domain};
  }

  const SpfRequest& request_;
  DnsView& dns_;
  IpAddress ip_;
  std::string sender_, local_, sender_domain_;
  int dns_terms_ = 0;
  int void_lookups_ = 0;
  int depth_ = 0;
  bool pending_ = false;
};

SpfResult public_result(R r) {
  switch (r) {
    case R::none:
      return SpfResult::none;
    case R::neutral:
      return SpfResult::neutral;
    case R::pass:
      return SpfResult::pass;
    case R::fail:
      return SpfResult::fail;
    case R::softfail:
      return SpfResult::softfail;
    case R::temperror:
      return SpfResult::temperror;
    default:
      return SpfResult::permerror;
  }
}

}  // namespace

std::optional<SpfOutcome> spf_check(const SpfRequest& request, DnsView& dns) {
  SpfOutcome outcome;
  auto ip = IpAddress::parse(request.client_ip);
  if (!ip) {
    outcome.result = SpfResult::permerror;
    outcome.reason = "bad client address";
    return outcome;
  }
  Evaluator evaluator(request, dns, *ip);
  outcome.domain = evaluator.sender_domain();
  Outcome out = evaluator.check(evaluator.sender_domain(), true);
  if (out.result == R::pending) return std::nullopt;
  outcome.result = public_result(out.result);
  outcome.explanation = std::move(out.explanation);
  outcome.reason = std::move(out.reason);
  return outcome;
}

}  // namespace postroom::mailauth
