// Greylisting triplets: deferred first, passed after the window, remembered by the file.
#include "postroom/store/greylist.hpp"

#include <doctest/doctest.h>

#include "postroom/store/access_rules.hpp"
#include "postroom/store/database.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

namespace {
GreylistTriplet triplet(const char* sender, const char* domain, const char* rcpt) {
  return GreylistTriplet{"192.0.2.0/24", sender, domain, rcpt};
}
constexpr std::int64_t kWindow = 300;
constexpr std::int64_t kForget = 86400;
}  // namespace

TEST_CASE("greylist: first try deferred, early retry deferred, retry after the window passes") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto t = triplet("a@remote.test", "remote.test", "alice@example.test");
  CHECK(greylist_check(*db, t, 1000, kWindow, kForget) == false);
  CHECK(greylist_check(*db, t, 1000 + kWindow - 1, kWindow, kForget) == false);
  CHECK(greylist_check(*db, t, 1000 + kWindow, kWindow, kForget) == true);
  CHECK(greylist_check(*db, t, 5000, kWindow, kForget) == true);
  // The sender domain passed from this network: its other senders and recipients pass at once.
  CHECK(greylist_check(*db, triplet("b@remote.test", "remote.test", "bob@example.test"), 5000,
                       kWindow, kForget) == true);
  // Another network does not.
  GreylistTriplet elsewhere = t;
  elsewhere.network = "198.51.100.0/24";
  CHECK(greylist_check(*db, elsewhere, 5000, kWindow, kForget) == false);
}

TEST_CASE("greylist: the retry window's start does not move, and stale triplets start over") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto t = triplet("", "", "alice@example.test");  // a bounce: no domain to allow-list
  CHECK_FALSE(*greylist_check(*db, t, 1000, kWindow, kForget));
  CHECK_FALSE(*greylist_check(*db, t, 1100, kWindow, kForget));
  CHECK(*greylist_check(*db, t, 1300, kWindow, kForget));
  auto u = triplet("c@late.test", "late.test", "alice@example.test");
  CHECK_FALSE(*greylist_check(*db, u, 1000, kWindow, kForget));
  CHECK_FALSE(*greylist_check(*db, u, 1000 + kForget + 1, kWindow, kForget));  // forgotten
  CHECK(*greylist_check(*db, u, 1000 + kForget + 1 + kWindow, kWindow, kForget));
}

TEST_CASE("greylist: the purge forgets unretried first tries and unused passes, keeps the rest") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto stale = triplet("s@stale.test", "stale.test", "alice@example.test");
  auto fresh = triplet("f@fresh.test", "fresh.test", "alice@example.test");
  auto old_pass = triplet("o@old.test", "old.test", "alice@example.test");
  auto used_pass = triplet("u@used.test", "used.test", "alice@example.test");
  CHECK_FALSE(*greylist_check(*db, old_pass, 100, kWindow, kForget));
  CHECK(*greylist_check(*db, old_pass, 100 + kWindow, kWindow, kForget));
  CHECK_FALSE(*greylist_check(*db, used_pass, 100, kWindow, kForget));
  CHECK(*greylist_check(*db, used_pass, 100 + kWindow, kWindow, kForget));
  CHECK_FALSE(*greylist_check(*db, stale, 1000, kWindow, kForget));
  CHECK_FALSE(*greylist_check(*db, fresh, 5000, kWindow, kForget));
  // used.test sends again later: its pass is renewed.
  CHECK(*greylist_check(*db, triplet("x@used.test", "used.test", "bob@example.test"), 4000, kWindow,
                        kForget));
  // Unretried before 2000, passes unused since 3000: stale's first try, old.test's triplet
  // and its domain pass, and used.test's first triplet go (4 rows); used.test's domain pass,
  // renewed at 4000, stays.
  auto removed = greylist_purge(*db, 2000, 3000);
  REQUIRE(removed);
  CHECK(*removed == 4);
  CHECK_FALSE(*greylist_check(*db, triplet("n@old.test", "old.test", "bob@example.test"), 6000,
                              kWindow, kForget));  // old.test must pass again
  CHECK(*greylist_check(*db, triplet("n@used.test", "used.test", "bob@example.test"), 6000, kWindow,
                        kForget));                                       // used.test still allowed
  CHECK(*greylist_check(*db, fresh, 5000 + kWindow, kWindow, kForget));  // its first try kept
  CHECK_FALSE(*greylist_check(*db, stale, 6000, kWindow, kForget));      // starts over
}

TEST_CASE("greylist: triplets survive closing and reopening the database") {
  TempDir dir;
  auto t = triplet("a@remote.test", "remote.test", "alice@example.test");
  {
    auto db = Database::open(dir.db());
    REQUIRE(db);
    CHECK_FALSE(*greylist_check(*db, t, 1000, kWindow, kForget));
  }
  auto db = Database::open(dir.db());
  REQUIRE(db);
  CHECK(*greylist_check(*db, t, 1000 + kWindow, kWindow, kForget));
}

TEST_CASE("access rules: added, listed in order, duplicates and missing ones refused") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  AccessRule block{AccessRule::List::block, AccessRule::Kind::domain, "bad.test", ""};
  AccessRule allow{AccessRule::List::allow, AccessRule::Kind::network, "192.0.2.0/24",
                   "example.test"};
  REQUIRE(add_access_rule(*db, block));
  REQUIRE(add_access_rule(*db, allow));
  CHECK_FALSE(add_access_rule(*db, block));
  auto rules = list_access_rules(*db);
  REQUIRE(rules);
  REQUIRE(rules->size() == 2);
  CHECK((*rules)[0].list == AccessRule::List::allow);
  CHECK((*rules)[0].scope == "example.test");
  CHECK((*rules)[1].value == "bad.test");
  REQUIRE(delete_access_rule(*db, block));
  CHECK_FALSE(delete_access_rule(*db, block));
}
