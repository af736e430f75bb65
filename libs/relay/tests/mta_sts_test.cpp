// MTA-STS parsing and matching (RFC 8461 §3.1, §3.2, §4.1).
#include "postroom/relay/mta_sts.hpp"

#include <doctest/doctest.h>

using namespace postroom::relay;

TEST_CASE("mta-sts: the TXT record's id, only from exactly one STSv1 record") {
  CHECK(parse_mta_sts_txt({"v=STSv1; id=20160831085700Z"}) == "20160831085700Z");
  CHECK(parse_mta_sts_txt({"v=spf1 -all", "v=STSv1;id=abc123;"}) == "abc123");
  CHECK_FALSE(parse_mta_sts_txt({}).has_value());
  CHECK_FALSE(parse_mta_sts_txt({"v=STSv1; id=a", "v=STSv1; id=b"}).has_value());
  CHECK_FALSE(parse_mta_sts_txt({"v=STSv1; id=not-alnum!"}).has_value());
  CHECK_FALSE(parse_mta_sts_txt({"v=STSv1;"}).has_value());
}

TEST_CASE("mta-sts: a policy file with CRLF or LF lines") {
  auto policy = parse_mta_sts_policy(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
      "max_age: 604800\r\nextension: ignored\r\n");
  REQUIRE(policy.has_value());
  CHECK(policy->mode == MtaStsMode::enforce);
  CHECK(policy->max_age == 604800);
  REQUIRE(policy->mx.size() == 2);
  CHECK(policy->mx[1] == "*.example.net");
  auto testing =
      parse_mta_sts_policy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 99999999999\n");
  CHECK_FALSE(testing.has_value());  // more than 10 digits
  auto capped =
      parse_mta_sts_policy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 999999999\n");
  REQUIRE(capped.has_value());
  CHECK(capped->max_age == kMtaStsMaxAge);
}

TEST_CASE("mta-sts: broken policies are refused") {
  CHECK_FALSE(parse_mta_sts_policy("mode: enforce\nmx: a.test\nmax_age: 1\n").has_value());
  CHECK_FALSE(
      parse_mta_sts_policy("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n").has_value());
  CHECK_FALSE(
      parse_mta_sts_policy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").has_value());
  CHECK_FALSE(parse_mta_sts_policy("version: STSv1\nmode: enforce\nmax_age: 1\n").has_value());
  CHECK_FALSE(parse_mta_sts_policy("version: STSv1\nmode: enforce\nmx: a\n").has_value());
  CHECK(parse_mta_sts_policy("version: STSv1\nmode: none\nmax_age: 1\n").has_value());
  CHECK_FALSE(parse_mta_sts_policy("<html>not found</html>").has_value());
}

TEST_CASE("mta-sts: MX patterns match one leftmost label, case-insensitively") {
  CHECK(mta_sts_mx_matches("mail.example.com", "MAIL.example.com."));
  CHECK(mta_sts_mx_matches("*.example.net", "mx1.example.net"));
  CHECK_FALSE(mta_sts_mx_matches("*.example.net", "a.b.example.net"));
  CHECK_FALSE(mta_sts_mx_matches("*.example.net", "example.net"));
  CHECK_FALSE(mta_sts_mx_matches("mail.example.com", "mail.example.com.evil.test"));
  MtaStsPolicy policy{MtaStsMode::enforce, {"a.test", "*.b.test"}, 1, "x"};
  CHECK(mta_sts_allows(policy, "x.b.test"));
  CHECK_FALSE(mta_sts_allows(policy, "c.test"));
}
