// Retention: settings per domain and user, first-download marks, and the purge at a given time.
#include "postroom/store/retention.hpp"

#include <doctest/doctest.h>

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "put_message.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kT0 = 1'700'000'000;  // the test's clock: every call gets its `now`

RetentionPolicy policy(std::optional<std::int64_t> retrieved, std::optional<std::int64_t> max_age,
                       std::int64_t login_delay) {
  RetentionPolicy p;
  p.retrieved = retrieved;
  p.max_age = max_age;
  p.login_delay = login_delay;
  return p;
}

std::int64_t account(Database& db, const char* address) {
  REQUIRE(add_account(db, address, "hash"));
  auto found = find_account(db, address);
  REQUIRE(found);
  REQUIRE(*found);
  return (*found)->id;
}

// A delivery for `account`, delivered at `at`; returns its delivery id.
std::int64_t deliver(Database& db, std::int64_t account, std::int64_t at) {
  auto stored = put_message(db, "Subject: x\r\n\r\nbody\r\n", {account});
  REQUIRE(stored);
  auto id = db.last_insert_id();
  REQUIRE(db.exec("UPDATE deliveries SET delivered_at = " + std::to_string(at) +
                  " WHERE id = " + std::to_string(id)));
  return id;
}

std::int64_t count(Database& db, const std::string& sql) {
  auto s = db.prepare(sql);
  REQUIRE(s);
  auto row = s->step();
  REQUIRE(row);
  REQUIRE(*row);
  return s->column_int(0);
}

bool exists(Database& db, std::int64_t delivery) {
  return count(db, "SELECT count(*) FROM deliveries WHERE id = " + std::to_string(delivery)) == 1;
}

// What the daemon does each period: list, then purge what was listed.
int purge_at(Database& db, const RetentionPolicy& defaults, std::int64_t now) {
  auto accounts = accounts_with_expired_mail(db, defaults, now);
  REQUIRE(accounts);
  auto removed = purge_expired(db, defaults, now, accounts->accounts, 1000);
  REQUIRE(removed);
  return *removed;
}

}  // namespace

TEST_CASE("retention: retrieved mail goes exactly `retrieved` after its first download") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = account(*db, "alice@example.test");
  auto read = deliver(*db, alice, kT0);
  auto unread = deliver(*db, alice, kT0);
  RetentionPolicy rules = policy(3 * kDay, std::nullopt, 0);
  REQUIRE(mark_retrieved(*db, alice, {{read, kT0 + 100}}) == 1);

  CHECK(purge_at(*db, rules, kT0 + 100 + 3 * kDay - 1) == 0);
  CHECK(exists(*db, read));
  CHECK(purge_at(*db, rules, kT0 + 100 + 3 * kDay) == 1);
  CHECK_FALSE(exists(*db, read));
  // Never downloaded: no retrieved rule applies, however old.
  CHECK(purge_at(*db, rules, kT0 + 1000 * kDay) == 0);
  CHECK(exists(*db, unread));
  // The deleted message's content and chunks went with it; the other's stayed.
  CHECK(count(*db, "SELECT count(*) FROM contents") == 1);
  CHECK(count(*db,
              "SELECT count(*) FROM content_chunks WHERE content_id NOT IN "
              "(SELECT content_id FROM deliveries)") == 0);
}

TEST_CASE("retention: the first download counts, a later one does not move it") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = account(*db, "alice@example.test");
  auto read = deliver(*db, alice, kT0);
  REQUIRE(mark_retrieved(*db, alice, {{read, kT0 + 10}}) == 1);
  CHECK(mark_retrieved(*db, alice, {{read, kT0 + 5 * kDay}}) == 0);
  // Another account's delivery id is not marked through alice.
  auto bob = account(*db, "bob@example.test");
  auto bobs = deliver(*db, bob, kT0);
  CHECK(mark_retrieved(*db, alice, {{bobs, kT0}}) == 0);
  RetentionPolicy rules = policy(kDay, std::nullopt, 0);
  CHECK(purge_at(*db, rules, kT0 + 10 + kDay) == 1);
  CHECK(exists(*db, bobs));
}

TEST_CASE("retention: max_age removes any mail that old, downloaded or not") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = account(*db, "alice@example.test");
  auto old_mail = deliver(*db, alice, kT0);
  auto young = deliver(*db, alice, kT0 + 5 * kDay);
  RetentionPolicy rules = policy(std::nullopt, 30 * kDay, 0);
  CHECK(purge_at(*db, rules, kT0 + 30 * kDay - 1) == 0);
  CHECK(purge_at(*db, rules, kT0 + 30 * kDay) == 1);
  CHECK_FALSE(exists(*db, old_mail));
  CHECK(exists(*db, young));
  CHECK(purge_at(*db, RetentionPolicy{}, kT0 + 1000 * kDay) == 0);  // nothing set: kept
  CHECK(exists(*db, young));
}

TEST_CASE("retention: an account left out of the purge (its maildrop is locked) keeps its mail") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = account(*db, "alice@example.test");
  auto bob = account(*db, "bob@example.test");
  auto alices = deliver(*db, alice, kT0);
  auto bobs = deliver(*db, bob, kT0);
  RetentionPolicy rules = policy(std::nullopt, kDay, 0);
  auto listed = accounts_with_expired_mail(*db, rules, kT0 + kDay);
  REQUIRE(listed);
  CHECK(listed->accounts == std::vector<std::int64_t>{alice, bob});
  // The daemon could lock alice only: bob's session holds his maildrop.
  CHECK(purge_expired(*db, rules, kT0 + kDay, {alice}, 1000) == 1);
  CHECK_FALSE(exists(*db, alices));
  CHECK(exists(*db, bobs));
}

TEST_CASE("retention: an address's setting wins over its domain's, which wins over the config") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  RetentionPolicy defaults = policy(7 * kDay, 90 * kDay, 0);
  REQUIRE(set_retention(*db, {"example.test", 2 * kDay, std::nullopt, 300}));
  REQUIRE(set_retention(*db, {"boss@example.test", kNever, kNever, std::nullopt}));
  // A later set merges: only the fields it names change.
  REQUIRE(set_retention(*db, {"example.test", std::nullopt, 60 * kDay, std::nullopt}));
  auto settings = load_retention_settings(*db);
  REQUIRE(settings);
  REQUIRE(settings->size() == 2);

  auto clerk = effective_policy(defaults, *settings, "clerk@example.test");
  CHECK(clerk == RetentionPolicy{2 * kDay, 60 * kDay, 300});
  auto boss = effective_policy(defaults, *settings, "boss@example.test");
  CHECK(boss == RetentionPolicy{std::nullopt, std::nullopt, 300});
  auto other = effective_policy(defaults, *settings, "someone@other.test");
  CHECK(other == defaults);

  CHECK(clear_retention(*db, "boss@example.test") == true);
  CHECK(clear_retention(*db, "boss@example.test") == false);
  settings = load_retention_settings(*db);
  REQUIRE(settings);
  CHECK(effective_policy(defaults, *settings, "boss@example.test") == clerk);
}

TEST_CASE("retention: the purge applies each mailbox's own policy") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = account(*db, "alice@example.test");
  auto boss = account(*db, "boss@example.test");
  auto alices = deliver(*db, alice, kT0);
  auto bosses = deliver(*db, boss, kT0);
  REQUIRE(set_retention(*db, {"boss@example.test", std::nullopt, kNever, std::nullopt}));
  RetentionPolicy defaults = policy(std::nullopt, kDay, 0);
  CHECK(purge_at(*db, defaults, kT0 + 2 * kDay) == 1);
  CHECK_FALSE(exists(*db, alices));
  CHECK(exists(*db, bosses));
}

TEST_CASE("retention: EXPIRE announces the tighter rule in whole days, rounded down") {
  CHECK(expire_days(RetentionPolicy{}) == std::nullopt);  // EXPIRE NEVER
  CHECK(expire_days(policy(30 * kDay, std::nullopt, 0)) == 30);
  CHECK(expire_days(policy(30 * kDay, 10 * kDay, 0)) == 10);
  CHECK(expire_days(policy(std::nullopt, 90 * kDay, 0)) == 90);
  CHECK(expire_days(policy(36 * 3600, std::nullopt, 0)) == 1);
  CHECK(expire_days(policy(30, std::nullopt, 0)) == 0);
  // The login delay has nothing to do with EXPIRE.
  CHECK(expire_days(policy(std::nullopt, std::nullopt, 600)) == std::nullopt);
}

TEST_CASE("retention: the purge deletes at most `limit` per call, the rest at the next") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = account(*db, "alice@example.test");
  auto bob = account(*db, "bob@example.test");
  for (int i = 0; i < 3; ++i) deliver(*db, alice, kT0);
  for (int i = 0; i < 2; ++i) deliver(*db, bob, kT0);
  RetentionPolicy rules = policy(std::nullopt, kDay, 0);
  std::vector<std::int64_t> both{alice, bob};
  CHECK(purge_expired(*db, rules, kT0 + kDay, both, 2) == 2);
  CHECK(purge_expired(*db, rules, kT0 + kDay, both, 2) == 2);  // alice's last, bob's first
  CHECK(purge_expired(*db, rules, kT0 + kDay, both, 2) == 1);
  CHECK(purge_expired(*db, rules, kT0 + kDay, both, 2) == 0);
  CHECK(count(*db, "SELECT count(*) FROM deliveries") == 0);
  CHECK(count(*db, "SELECT count(*) FROM content_chunks") == 0);
}
