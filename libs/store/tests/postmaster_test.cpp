// Postmaster at every local domain and without a domain (RFC 5321 §4.5.1).
#include "postroom/store/postmaster.hpp"

#include <doctest/doctest.h>

#include "postroom/store/database.hpp"
#include "temp_dir.hpp"

using namespace postroom;
using namespace postroom::store;

namespace {
const std::vector<std::string> kDomains{"example.test", "other.test"};
}  // namespace

TEST_CASE("postmaster: lookup order for bare, main, other local and remote postmasters") {
  using V = std::vector<std::string>;
  CHECK(lookup_order(Address{"postmaster", ""}, kDomains) == V{"postmaster@example.test"});
  CHECK(lookup_order(Address{"postmaster", "example.test"}, kDomains) ==
        V{"postmaster@example.test"});
  CHECK(lookup_order(Address{"postmaster", "other.test"}, kDomains) ==
        V{"postmaster@other.test", "postmaster@example.test"});
  CHECK(lookup_order(Address{"postmaster", "remote.test"}, kDomains) ==
        V{"postmaster@remote.test"});
  CHECK(lookup_order(Address{"alice", "other.test"}, kDomains) == V{"alice@other.test"});
}

TEST_CASE("postmaster: resolves to the main postmaster's alias, or a domain's own") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto missing = postmaster_missing(*db, kDomains);
  REQUIRE(missing);
  CHECK(*missing);
  auto none = resolve_with_postmaster(*db, Address{"postmaster", ""}, kDomains);
  REQUIRE(none);
  CHECK(none->kind == Route::Kind::unknown);

  auto alice = add_account(*db, "alice@example.test", "h");
  auto carol = add_account(*db, "carol@other.test", "h");
  REQUIRE(alice);
  REQUIRE(carol);
  REQUIRE(add_alias(*db, "postmaster@example.test", {"alice@example.test"}));
  CHECK_FALSE(*postmaster_missing(*db, kDomains));
  for (const Address& a : {Address{"postmaster", ""}, Address{"postmaster", "other.test"}}) {
    auto route = resolve_with_postmaster(*db, a, kDomains);
    REQUIRE(route);
    CHECK(route->kind == Route::Kind::local);
    CHECK(route->accounts == std::vector<std::int64_t>{*alice});
  }
  REQUIRE(add_alias(*db, "postmaster@other.test", {"carol@other.test"}));
  auto own = resolve_with_postmaster(*db, Address{"postmaster", "other.test"}, kDomains);
  REQUIRE(own);
  CHECK(own->accounts == std::vector<std::int64_t>{*carol});
  auto unknown = resolve_with_postmaster(*db, Address{"nobody", "other.test"}, kDomains);
  REQUIRE(unknown);
  CHECK(unknown->kind == Route::Kind::unknown);
}
