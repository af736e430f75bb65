// MX ordering (RFC 5321 §5.1): preference order, shuffled ties, implicit MX, null MX (RFC 7505).
#include "postroom/relay/mx.hpp"

#include <doctest/doctest.h>

#include <random>
#include <set>

using namespace postroom::relay;

namespace {

const RandomIndex kFirst = [](std::size_t) -> std::size_t { return 0; };
const RandomIndex kLast = [](std::size_t n) -> std::size_t { return n - 1; };

}  // namespace

TEST_CASE("mx: hosts in preference order, trailing dots dropped") {
  auto hosts = order_mx_hosts(
      "remote.test",
      {{20, "backup.remote.test."}, {10, "mx1.remote.test."}, {30, "last.remote.test"}}, kLast);
  REQUIRE(hosts.has_value());
  CHECK(*hosts ==
        std::vector<std::string>{"mx1.remote.test", "backup.remote.test", "last.remote.test"});
}

TEST_CASE("mx: equal preferences are shuffled by the injected randomness") {
  const std::vector<MxRecord> records{{10, "a"}, {10, "b"}, {10, "c"}, {5, "first"}, {20, "z"}};
  // Fisher-Yates with j = 0 each time rotates the tie group; j = i - 1 keeps it.
  auto rotated = order_mx_hosts("d", records, kFirst);
  REQUIRE(rotated.has_value());
  CHECK(*rotated == std::vector<std::string>{"first", "b", "c", "a", "z"});
  auto kept = order_mx_hosts("d", records, kLast);
  CHECK(*kept == std::vector<std::string>{"first", "a", "b", "c", "z"});

  // With a real generator every order of the tie shows up, and the ends never move.
  std::mt19937 rng(42);
  RandomIndex random = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  std::set<std::vector<std::string>> seen;
  for (int i = 0; i < 200; ++i) {
    auto hosts = order_mx_hosts("d", records, random);
    REQUIRE(hosts.has_value());
    CHECK(hosts->front() == "first");
    CHECK(hosts->back() == "z");
    seen.insert(*hosts);
  }
  CHECK(seen.size() == 6);
}

TEST_CASE("mx: duplicates are tried once") {
  auto hosts = order_mx_hosts("d", {{10, "mx.d"}, {20, "MX.D."}, {30, "other.d"}}, kLast);
  CHECK(*hosts == std::vector<std::string>{"mx.d", "other.d"});
}

TEST_CASE("mx: no records means the domain itself (RFC 5321 §5.1 implicit MX)") {
  auto hosts = order_mx_hosts("remote.test", {}, kFirst);
  REQUIRE(hosts.has_value());
  CHECK(*hosts == std::vector<std::string>{"remote.test"});
}

TEST_CASE("mx: null MX fails permanently (RFC 7505)") {
  for (std::string dot : {".", ""}) {
    auto hosts = order_mx_hosts("nomail.test", {{0, dot}}, kFirst);
    REQUIRE_FALSE(hosts.has_value());
    CHECK(hosts.error().permanent);
    CHECK(hosts.error().text == "5.1.10 domain does not accept mail (null MX)");
  }
  // A "." beside real hosts is a misconfiguration: the real hosts are tried.
  auto mixed = order_mx_hosts("odd.test", {{0, "."}, {10, "mx.odd.test"}}, kFirst);
  REQUIRE(mixed.has_value());
  CHECK(*mixed == std::vector<std::string>{"mx.odd.test"});
}
