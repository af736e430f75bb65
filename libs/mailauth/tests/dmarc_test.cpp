// DMARC: record parsing, the author domain, alignment through the Public Suffix List, the
// policy and pct; and the Authentication-Results writer and reader.
#include <doctest/doctest.h>

#include "postroom/mailauth/auth_results.hpp"
#include "postroom/mailauth/dmarc.hpp"

using namespace postroom;
using namespace postroom::mailauth;

namespace {

const PublicSuffixList& psl() {
  static PublicSuffixList list = PublicSuffixList::parse(
      "// test rules\ncom\norg\nuk\nco.uk\n*.ck\n!www.ck\n// ===END ICANN DOMAINS===\n");
  return list;
}

DkimOutcome dkim_pass(std::string domain) {
  DkimOutcome d;
  d.result = DkimResult::pass;
  d.domain = std::move(domain);
  return d;
}

DmarcOutcome run(const DmarcInput& input, DnsCache& dns) {
  for (int round = 0; round < 3; ++round) {
    if (auto out = dmarc_check(input, psl(), dns)) return *out;
    for (auto& [type, name] : dns.take_missing())
      dns.put(type, name, DnsAnswer{DnsStatus::not_found, {}});
  }
  FAIL("dmarc_check never finished");
  return {};
}

}  // namespace

TEST_CASE("psl: organizational domains with normal, wildcard and exception rules") {
  CHECK(psl().organizational_domain("mail.example.com") == "example.com");
  CHECK(psl().organizational_domain("a.b.example.co.uk") == "example.co.uk");
  CHECK(psl().organizational_domain("Example.COM.") == "example.com");
  CHECK(psl().organizational_domain("x.y.foo.ck") == "y.foo.ck");
  CHECK(psl().organizational_domain("a.www.ck") == "www.ck");
  CHECK(psl().organizational_domain("co.uk") == "co.uk");
  CHECK(psl().organizational_domain("host.unknowntld") == "host.unknowntld");
}

TEST_CASE("psl: Debian's list loads and knows co.uk and the private github.io") {
  auto list = PublicSuffixList::load(PublicSuffixList::kDebianPath);
  REQUIRE(list.has_value());
  CHECK(list->rules() > 5000);
  CHECK(list->organizational_domain("a.b.example.co.uk") == "example.co.uk");
  CHECK(list->organizational_domain("x.someone.github.io") == "someone.github.io");
}

TEST_CASE("dmarc record: p, sp, alignment modes, pct; unusable records") {
  auto r = parse_dmarc_record("v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=20");
  REQUIRE(r.has_value());
  CHECK(r->policy == DmarcPolicy::reject);
  CHECK(r->subdomain_policy == DmarcPolicy::quarantine);
  CHECK(r->strict_dkim);
  CHECK(!r->strict_spf);
  CHECK(r->pct == 20);
  CHECK(!parse_dmarc_record("v=DMARC1; p=bogus").has_value());
  CHECK(parse_dmarc_record("v=DMARC1; p=bogus; rua=mailto:x@example.com")->policy ==
        DmarcPolicy::none);
  CHECK(!parse_dmarc_record("p=reject; v=DMARC1").has_value());
  CHECK(!parse_dmarc_record("v=spf1 -all").has_value());
}

TEST_CASE("dmarc: author domain from the From field") {
  auto one = [](const char* from) {
    return author_domain(HeaderSection::parse(std::string("From: ") + from + "\r\nTo: x@y\r\n"));
  };
  CHECK(one("Alice <alice@Example.ORG>").value() == "example.org");
  CHECK(one("alice@example.org (Alice, <evil@x.com>)").value() == "example.org");
  CHECK(one("\"Bob, <boss@bank.com>\" <bob@example.org>").value() == "example.org");
  CHECK(one("a@example.org, b@example.org").value() == "example.org");
  CHECK(!one("a@example.org, b@example.net").has_value());
  CHECK(!one("undisclosed").has_value());
  CHECK(!author_domain(HeaderSection::parse("To: x@y\r\n")).has_value());
  CHECK(!author_domain(HeaderSection::parse("From: a@x.com\r\nFrom: b@y.com\r\n")).has_value());
}

TEST_CASE("dmarc: relaxed alignment passes a subdomain signature, strict does not") {
  DnsCache dns;
  dns.put(DnsType::txt, "_dmarc.example.com", {DnsStatus::ok, {"v=DMARC1; p=reject"}});
  dns.put(DnsType::txt, "_dmarc.strict.com", {DnsStatus::ok, {"v=DMARC1; p=reject; adkim=s"}});
  DmarcInput input;
  input.from_domain = "example.com";
  input.dkim = {dkim_pass("mail.example.com")};
  auto out = run(input, dns);
  CHECK(out.result == DmarcResult::pass);
  CHECK(out.dkim_aligned);
  input.from_domain = "strict.com";
  input.dkim = {dkim_pass("mail.strict.com")};
  out = run(input, dns);
  CHECK(out.result == DmarcResult::fail);
  CHECK(out.disposition == DmarcPolicy::reject);
}

TEST_CASE("dmarc: SPF pass for an unrelated domain does not align; the org record and sp apply") {
  DnsCache dns;
  dns.put(DnsType::txt, "_dmarc.example.com",
          {DnsStatus::ok, {"v=DMARC1; p=quarantine; sp=reject"}});
  DmarcInput input;
  input.from_domain = "billing.example.com";
  input.spf = SpfResult::pass;
  input.spf_domain = "forger.net";
  auto out = run(input, dns);
  CHECK(out.result == DmarcResult::fail);
  CHECK(out.published == DmarcPolicy::reject);
  CHECK(out.disposition == DmarcPolicy::reject);
  input.spf_domain = "bounces.example.com";
  out = run(input, dns);
  CHECK(out.result == DmarcResult::pass);
  CHECK(out.spf_aligned);
  CHECK(out.disposition == DmarcPolicy::none);
}

TEST_CASE("dmarc: pct outside the sample steps reject down to quarantine; none and temperror") {
  DnsCache dns;
  dns.put(DnsType::txt, "_dmarc.example.com", {DnsStatus::ok, {"v=DMARC1; p=reject; pct=50"}});
  dns.put(DnsType::txt, "_dmarc.slow.com", {DnsStatus::temporary, {}});
  DmarcInput input;
  input.from_domain = "example.com";
  input.pct_sample = 10;
  CHECK(run(input, dns).disposition == DmarcPolicy::reject);
  input.pct_sample = 70;
  CHECK(run(input, dns).disposition == DmarcPolicy::quarantine);
  input.from_domain = "slow.com";
  CHECK(run(input, dns).result == DmarcResult::temperror);
  input.from_domain = "nothing.com";
  CHECK(run(input, dns).result == DmarcResult::none);
}

TEST_CASE("auth results: one resinfo a line, values quoted when needed, comments escaped") {
  AuthResults ar("mx.example.test");
  ar.add("spf", "pass", "", {{"smtp.mailfrom", "alice@example.org"}});
  ar.add("dkim", "fail", "body hash (did) not verify",
         {{"header.d", "example.org"}, {"header.s", "sel 1"}});
  ar.add("dmarc", "fail", "p=reject", {{"header.from", "example.org"}});
  CHECK(ar.value() ==
        "mx.example.test;\r\n\tspf=pass smtp.mailfrom=alice@example.org;\r\n"
        "\tdkim=fail (body hash \\(did\\) not verify) header.d=example.org header.s=\"sel 1\";\r\n"
        "\tdmarc=fail (p=reject) header.from=example.org");
  CHECK(AuthResults("mx.example.test").value() == "mx.example.test; none");
}

TEST_CASE("auth results: the authserv-id of a received field") {
  CHECK(authserv_id_of(" mx.example.test; spf=pass") == "mx.example.test");
  CHECK(authserv_id_of(" (forged) MX.example.test 1;\r\n\tdkim=pass") == "MX.example.test");
  CHECK(authserv_id_of("other.example;dmarc=pass") == "other.example");
  CHECK(authserv_id_of(" \"mx.example.test\"; none") == "mx.example.test");
  CHECK(authserv_id_of("   ").empty());
}
