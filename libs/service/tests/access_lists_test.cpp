// How allow and block rules decide for one sender, client and recipient.
#include <doctest/doctest.h>

#include "postroom/service/access_lists.hpp"

using namespace postroom;
using namespace postroom::service;
using List = store::AccessRule::List;
using Kind = store::AccessRule::Kind;
using Verdict = AccessSnapshot::Verdict;

namespace {

Address addr(const char* text) {
  return *parse_address(text);
}

store::AccessRule rule(List list, Kind kind, const char* value, const char* scope = "") {
  return store::AccessRule{list, kind, value, scope};
}

}  // namespace

TEST_CASE("access lists: address, domain with subdomains, and network rules match") {
  AccessSnapshot s({rule(List::block, Kind::address, "spam@bad.test"),
                    rule(List::block, Kind::domain, "worse.test"),
                    rule(List::block, Kind::network, "192.0.2.0/24")});
  auto rcpt = addr("alice@example.test");
  CHECK(s.decide("198.51.100.1", addr("spam@bad.test"), rcpt) == Verdict::block);
  CHECK(s.decide("198.51.100.1", addr("ham@bad.test"), rcpt) == Verdict::none);
  CHECK(s.decide("198.51.100.1", addr("x@mail.worse.test"), rcpt) == Verdict::block);
  CHECK(s.decide("198.51.100.1", addr("x@notworse.test"), rcpt) == Verdict::none);
  CHECK(s.decide("192.0.2.44", addr("x@good.test"), rcpt) == Verdict::block);
  CHECK(s.decide("192.0.2.44", std::nullopt, rcpt) == Verdict::block);  // a bounce from there
  CHECK(s.decide("198.51.100.1", std::nullopt, rcpt) == Verdict::none);
}

TEST_CASE("access lists: the most specific scope decides, allow wins at the same scope") {
  AccessSnapshot s({rule(List::block, Kind::domain, "bad.test"),
                    rule(List::allow, Kind::address, "friend@bad.test", "alice@example.test"),
                    rule(List::block, Kind::domain, "shop.test", "example.test"),
                    rule(List::allow, Kind::domain, "shop.test", "example.test")});
  CHECK(s.decide("198.51.100.1", addr("friend@bad.test"), addr("alice@example.test")) ==
        Verdict::allow);
  CHECK(s.decide("198.51.100.1", addr("friend@bad.test"), addr("bob@example.test")) ==
        Verdict::block);
  CHECK(s.decide("198.51.100.1", addr("a@shop.test"), addr("bob@example.test")) == Verdict::allow);
  CHECK(s.decide("198.51.100.1", addr("a@shop.test"), addr("bob@other.test")) == Verdict::none);
}

TEST_CASE("access lists: only everyone's network allow rules allow a client at connect") {
  AccessSnapshot s({rule(List::allow, Kind::network, "192.0.2.0/24"),
                    rule(List::allow, Kind::network, "198.51.100.0/24", "example.test"),
                    rule(List::allow, Kind::address, "a@b.test")});
  CHECK(s.network_allowed("192.0.2.9"));
  CHECK_FALSE(s.network_allowed("198.51.100.9"));
  CHECK_FALSE(s.network_allowed("203.0.113.1"));
  CHECK_FALSE(s.network_allowed("garbage"));
}
