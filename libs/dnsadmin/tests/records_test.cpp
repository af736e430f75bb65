// The office's records: TXT splitting, reverse names, zone lines, the set dns-records prints.
#include "postroom/dnsadmin/records.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace postroom::dnsadmin;

namespace {
OfficeFacts facts() {
  OfficeFacts f;
  f.hostname = "mail.example.test";
  f.domain = "example.test";
  f.addresses = {"192.0.2.10", "2001:db8::10"};
  f.submission = 587;
  f.pop3s = 995;
  f.dkim.push_back(
      {"s1", "rsa", std::string(400, 'A'), "/var/lib/postroom/dkim/example.test/s1.pem"});
  return f;
}
const DnsRecord* find(const std::vector<DnsRecord>& records, std::string_view name,
                      std::string_view type) {
  auto it = std::find_if(records.begin(), records.end(),
                         [&](const DnsRecord& r) { return r.name == name && r.type == type; });
  return it == records.end() ? nullptr : &*it;
}
}  // namespace

TEST_CASE("dns records: TXT values are split into quoted strings of at most 255 octets") {
  CHECK(split_txt("") == std::vector<std::string>{"\"\""});
  CHECK(split_txt("v=spf1 -all") == std::vector<std::string>{"\"v=spf1 -all\""});
  auto parts = split_txt(std::string(600, 'x'));
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].size() == 257);
  CHECK(parts[1].size() == 257);
  CHECK(parts[2].size() == 92);
  CHECK(split_txt("a\"b") == std::vector<std::string>{"\"a\\\"b\""});
}

TEST_CASE("dns records: reverse names for IPv4 and IPv6") {
  CHECK(reverse_name("192.0.2.10") == "10.2.0.192.in-addr.arpa");
  CHECK(reverse_name("2001:db8::1") ==
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  CHECK(reverse_name("not an address").empty());
}

TEST_CASE("dns records: everything an office needs, ready to paste") {
  auto records = office_records(facts());
  auto mx = find(records, "example.test", "MX");
  REQUIRE(mx);
  CHECK(zone_line(*mx) == "example.test. 3600 IN MX 10 mail.example.test.");
  auto spf = find(records, "example.test", "TXT");
  REQUIRE(spf);
  CHECK(spf->value == "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ~all");
  auto dkim = find(records, "s1._domainkey.example.test", "TXT");
  REQUIRE(dkim);
  std::string line = zone_line(*dkim);
  CHECK(line.find("\" \"") != std::string::npos);  // more than 255 octets: two strings
  auto dmarc = find(records, "_dmarc.example.test", "TXT");
  REQUIRE(dmarc);
  CHECK(dmarc->value == "v=DMARC1; p=none; rua=mailto:postmaster@example.test");
  auto sts = find(records, "_mta-sts.example.test", "TXT");
  REQUIRE(sts);
  CHECK(sts->value.starts_with("v=STSv1; id="));
  CHECK(find(records, "mta-sts.example.test", "CNAME"));
  CHECK(find(records, "_smtp._tls.example.test", "TXT"));
  auto submission = find(records, "_submission._tcp.example.test", "SRV");
  REQUIRE(submission);
  CHECK(submission->value == "10 1 587 mail.example.test");
  auto pop3s = find(records, "_pop3s._tcp.example.test", "SRV");
  REQUIRE(pop3s);
  CHECK(pop3s->value == "0 1 995 mail.example.test");
  // Off listeners are published as "not offered here" (RFC 6186 §4).
  auto pop3 = find(records, "_pop3._tcp.example.test", "SRV");
  REQUIRE(pop3);
  CHECK(zone_line(*pop3) == "_pop3._tcp.example.test. 3600 IN SRV 0 0 0 .");
  auto ptr = find(records, "10.2.0.192.in-addr.arpa", "PTR");
  REQUIRE(ptr);
  CHECK(ptr->value == "mail.example.test");
  CHECK(find(records, "mail.example.test", "AAAA"));
}

TEST_CASE("dns records: smarthost mode says to include the provider's SPF") {
  auto f = facts();
  f.smarthost = true;
  f.smarthost_host = "smtp.provider.example";
  auto records = office_records(f);
  auto spf = find(records, "example.test", "TXT");
  REQUIRE(spf);
  CHECK(spf->note.find("include:") != std::string::npos);
  CHECK(spf->note.find("smtp.provider.example") != std::string::npos);
}

TEST_CASE("dns records: the MTA-STS id changes with the policy") {
  auto a = facts();
  auto b = facts();
  b.hostname = "mx2.example.test";
  CHECK(find(office_records(a), "_mta-sts.example.test", "TXT")->value !=
        find(office_records(b), "_mta-sts.example.test", "TXT")->value);
}
