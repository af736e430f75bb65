// spf_check driven the way the filter drives it: a DnsCache that starts empty, filled
// round by round with the lookups the evaluation names.
#include <doctest/doctest.h>

#include <map>

#include "postroom/mailauth/spf.hpp"

using namespace postroom::mailauth;

namespace {

using Zone = std::map<std::pair<DnsType, std::string>, DnsAnswer>;

// Runs the evaluation to completion; returns it and how many rounds of DNS it took.
std::pair<SpfOutcome, int> drive(const SpfRequest& request, const Zone& zone) {
  DnsCache cache;
  int rounds = 0;
  for (;;) {
    auto outcome = spf_check(request, cache);
    if (outcome) return {*outcome, rounds};
    auto missing = cache.take_missing();
    REQUIRE(!missing.empty());
    ++rounds;
    for (auto& [type, name] : missing) {
      auto it = zone.find({type, name});
      cache.put(type, name, it == zone.end() ? DnsAnswer{DnsStatus::not_found, {}} : it->second);
    }
  }
}

}  // namespace

TEST_CASE("spf: an include and an mx are followed through the cache, one round per step") {
  Zone zone{
      {{DnsType::txt, "example.org"}, {DnsStatus::ok, {"v=spf1 include:_spf.example.org -all"}}},
      {{DnsType::txt, "_spf.example.org"}, {DnsStatus::ok, {"v=spf1 mx ~all"}}},
      {{DnsType::mx, "_spf.example.org"}, {DnsStatus::ok, {"mx1.example.org"}}},
      {{DnsType::a, "mx1.example.org"}, {DnsStatus::ok, {"192.0.2.10"}}},
  };
  auto [pass, rounds] = drive(spf_mail_from_request("192.0.2.10", "a@example.org", "h"), zone);
  CHECK(pass.result == SpfResult::pass);
  CHECK(pass.domain == "example.org");
  CHECK(rounds == 4);
  auto [fail, r2] = drive(spf_mail_from_request("192.0.2.11", "a@example.org", "h"), zone);
  CHECK(fail.result == SpfResult::fail);
  CHECK(fail.explanation == "SPF fail");
}

TEST_CASE("spf: a DNS timeout is temperror, the HELO identity checks postmaster@helo") {
  Zone zone{{{DnsType::txt, "slow.example.org"}, {DnsStatus::temporary, {}}},
            {{DnsType::txt, "mx.example.org"}, {DnsStatus::ok, {"v=spf1 ip4:192.0.2.0/24 -all"}}}};
  CHECK(drive(spf_mail_from_request("192.0.2.1", "x@slow.example.org", "h"), zone).first.result ==
        SpfResult::temperror);
  auto helo = drive(spf_helo_request("192.0.2.1", "mx.example.org"), zone).first;
  CHECK(helo.result == SpfResult::pass);
  CHECK(helo.domain == "mx.example.org");
  CHECK(drive(spf_helo_request("198.51.100.1", "mx.example.org"), zone).first.result ==
        SpfResult::fail);
  CHECK(
      drive(spf_mail_from_request("192.0.2.1", "x@nothing.example.org", "h"), zone).first.result ==
      SpfResult::none);
}

TEST_CASE("spf: an IPv6 client matches ip6 networks, an IPv4-mapped one ip4 networks") {
  Zone zone{{{DnsType::txt, "example.org"},
             {DnsStatus::ok, {"v=spf1 ip6:2001:db8::/32 ip4:192.0.2.0/24 -all"}}}};
  CHECK(drive(spf_mail_from_request("2001:db8::5", "a@example.org", "h"), zone).first.result ==
        SpfResult::pass);
  CHECK(drive(spf_mail_from_request("::ffff:192.0.2.9", "a@example.org", "h"), zone).first.result ==
        SpfResult::pass);
  CHECK(drive(spf_mail_from_request("2001:db9::5", "a@example.org", "h"), zone).first.result ==
        SpfResult::fail);
}
