// An RCPT's facts in one read: the route (postmaster included), the quotas of its mailboxes,
// and whether one of them has an away reply set.
#include "postroom/store/recipient_facts.hpp"

#include <doctest/doctest.h>

#include "postroom/store/vacation.hpp"
#include "temp_dir.hpp"

using namespace postroom;
using namespace postroom::store;

TEST_CASE("recipient facts: route, quotas and the away flag of each kind of recipient") {
  const std::vector<std::string> domains{"example.test"};
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  auto bob = add_account(*db, "bob@example.test", "h");
  REQUIRE(alice);
  REQUIRE(bob);
  REQUIRE(add_alias(*db, "postmaster@example.test", {"alice@example.test"}));
  REQUIRE(add_alias(*db, "team@example.test", {"alice@example.test", "bob@example.test"}));
  REQUIRE(set_account_quota(*db, *bob, QuotaSetting{1000, std::nullopt}));
  QuotaDefaults defaults;

  auto plain = recipient_facts(*db, Address{"alice", "example.test"}, domains, defaults);
  REQUIRE(plain);
  CHECK(plain->route.kind == Route::Kind::local);
  CHECK(plain->route.accounts == std::vector<std::int64_t>{*alice});
  REQUIRE(plain->quotas.size() == 1);
  CHECK_FALSE(plain->quotas[0].limited());
  CHECK_FALSE(plain->quota_error);
  CHECK_FALSE(plain->may_be_away);

  auto team = recipient_facts(*db, Address{"team", "example.test"}, domains, defaults);
  REQUIRE(team);
  REQUIRE(team->quotas.size() == 2);
  CHECK(team->quotas[1].account == *bob);
  CHECK(team->quotas[1].limit.bytes == 1000);
  CHECK_FALSE(team->may_be_away);

  Vacation away;
  away.account = *bob;
  away.body = "Back on Monday.\r\n";
  REQUIRE(set_vacation(*db, away, 100));
  auto team_away = recipient_facts(*db, Address{"team", "example.test"}, domains, defaults);
  REQUIRE(team_away);
  CHECK(team_away->may_be_away);
  auto alice_alone = recipient_facts(*db, Address{"alice", "example.test"}, domains, defaults);
  REQUIRE(alice_alone);
  CHECK_FALSE(alice_alone->may_be_away);

  auto postmaster = recipient_facts(*db, Address{"postmaster", ""}, domains, defaults);
  REQUIRE(postmaster);
  CHECK(postmaster->route.accounts == std::vector<std::int64_t>{*alice});

  auto remote = recipient_facts(*db, Address{"carol", "remote.test"}, domains, defaults);
  REQUIRE(remote);
  CHECK(remote->route.kind == Route::Kind::remote);
  CHECK(remote->quotas.empty());
  auto unknown = recipient_facts(*db, Address{"nobody", "example.test"}, domains, defaults);
  REQUIRE(unknown);
  CHECK(unknown->route.kind == Route::Kind::unknown);
  CHECK(unknown->quotas.empty());
}
