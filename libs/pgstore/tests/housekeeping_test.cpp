// Greylisting, the health probe and the sweep of abandoned writes on PostgreSQL.
#include <doctest/doctest.h>

#include "store_fixture.hpp"

namespace postroom::pgstore {
namespace {

using test::StoreFixture;

TEST_CASE("pgstore: greylisting defers a first try and passes a retry after the window") {
  StoreFixture f;
  GreylistTriplet t{"192.0.2.0/24", "a@remote.test", "remote.test", "alice@example.test"};
  auto check = [&](const GreylistTriplet& triplet, std::int64_t now) {
    auto r = f.call<bool>([&](auto reply) { f.store->greylist(triplet, now, 300, 86400, reply); });
    REQUIRE(r.has_value());
    return *r;
  };
  CHECK(!check(t, 1000));     // first seen
  CHECK(!check(t, 1100));     // too soon
  CHECK(check(t, 1400));      // after the window: passes, the domain is allowed
  GreylistTriplet other = t;  // another sender of that domain from that network
  other.sender = "b@remote.test";
  CHECK(check(other, 1500));
  auto purged = f.call<int>([&](auto reply) { f.store->purge_greylist(0, 10000, reply); });
  REQUIRE(purged.has_value());
  CHECK(*purged == 2);          // the passed triplet and the allowed domain
  CHECK(!check(other, 20000));  // forgotten: a first try again
}

TEST_CASE("pgstore: health writes its heartbeat and counts the queue") {
  StoreFixture f;
  MessageCommit commit;
  commit.content = new_content_id();
  commit.last_chunk = "Subject: q\r\n\r\nhi\r\n";
  commit.summary = {1, commit.last_chunk.size(), commit.last_chunk.size()};
  commit.destination.queue = QueueRequest{"alice@example.test", {"x@remote.test", "y@remote.test"}};
  REQUIRE(f.call<StoredMessage>([&](auto reply) { f.store->commit_message(commit, reply); }));
  auto health = f.call<StoreHealth>([&](auto reply) { f.store->health(777, reply); });
  REQUIRE(health.has_value());
  CHECK(health->queued_recipients == 2);
  CHECK(health->oldest_queued_at.has_value());
  CHECK(f.count("SELECT at FROM heartbeat WHERE id = 1") == 777);
}

TEST_CASE("pgstore: the sweep removes writes abandoned before the cut-off only") {
  StoreFixture f;
  ContentId old_id = new_content_id(), new_id = new_content_id();
  REQUIRE(f.call<void>([&](auto reply) { f.store->append_chunk(old_id, 0, true, "old", reply); }));
  REQUIRE(f.call<void>([&](auto reply) { f.store->append_chunk(new_id, 0, true, "new", reply); }));
  f.count("UPDATE contents SET created_at = 5 WHERE id = " + std::to_string(old_id));
  auto swept = f.call<int>([&](auto reply) { f.store->sweep_abandoned(10, reply); });
  REQUIRE(swept.has_value());
  CHECK(*swept == 1);
  CHECK(f.count("SELECT count(*) FROM contents") == 1);
  CHECK(f.count("SELECT count(*) FROM content_chunks") == 1);
}

}  // namespace
}  // namespace postroom::pgstore

namespace postroom::pgstore {
namespace {

TEST_CASE("pgstore: outbound counters are saved as absolute values and pruned") {
  test::StoreFixture f;
  OutboundCounts changes;
  changes.buckets = {{"alice@example.test", 1000, 3}, {"alice@example.test", 1, 9}};
  changes.recipients = {{"alice@example.test", "x@remote.test", 400000}};
  changes.notices = {{"alice@example.test", 1}};
  REQUIRE(f.call<void>([&](auto r) { f.store->save_outbound_counts(changes, 300000, 600, r); }));
  CHECK(f.count("SELECT count(*) FROM outbound_counts") == 1);  // bucket 1 is before 500
  CHECK(f.count("SELECT messages FROM outbound_counts WHERE bucket = 1000") == 3);
  CHECK(f.count("SELECT count(*) FROM outbound_recipients") == 1);
  CHECK(f.count("SELECT count(*) FROM outbound_notices") == 0);  // day 1 is before day 3
  changes = {};
  changes.buckets = {{"alice@example.test", 1000, 4}};
  REQUIRE(f.call<void>([&](auto r) { f.store->save_outbound_counts(changes, 0, 600, r); }));
  CHECK(f.count("SELECT messages FROM outbound_counts WHERE bucket = 1000") == 4);
}

TEST_CASE("pgstore: a notice reaches the postmaster, or says there is none") {
  test::StoreFixture f;
  std::vector<std::string> domains{"example.test"};
  auto none = f.call<bool>(
      [&](auto r) { f.store->notify_postmaster("Subject: n\r\n\r\nx\r\n", domains, r); });
  REQUIRE(none.has_value());
  CHECK(!*none);
  f.count(
      "INSERT INTO aliases (alias, target) VALUES ('postmaster@example.test', "
      "'alice@example.test')");
  auto sent = f.call<bool>(
      [&](auto r) { f.store->notify_postmaster("Subject: n\r\n\r\nx\r\n", domains, r); });
  REQUIRE(sent.has_value());
  CHECK(*sent);
  CHECK(f.count("SELECT count(*) FROM deliveries WHERE account_id = " + std::to_string(f.alice)) ==
        1);
}

}  // namespace
}  // namespace postroom::pgstore

namespace postroom::pgstore {
namespace {

TEST_CASE("pgstore: mail retrieved longer ago than the retention is found and purged") {
  test::StoreFixture f;
  for (int i = 0; i < 3; ++i) {
    MessageCommit commit;
    commit.content = new_content_id();
    commit.last_chunk = "Subject: r\r\n\r\nhi\r\n";
    commit.summary = {1, commit.last_chunk.size(), commit.last_chunk.size()};
    commit.destination.accounts = {f.alice};
    REQUIRE(f.call<StoredMessage>([&](auto reply) { f.store->commit_message(commit, reply); }));
  }
  auto first = f.count("SELECT min(id) FROM deliveries");
  auto marked = f.call<int>([&](auto r) {
    f.store->mark_retrieved(f.alice, {{first, 100}, {first, 150}}, r);
  });
  REQUIRE(marked.has_value());
  CHECK(*marked == 1);  // only the first download counts
  f.count("INSERT INTO retention_settings (scope, retrieved) VALUES ('example.test', 50)");
  auto settings =
      f.call<std::vector<RetentionSetting>>([&](auto r) { f.store->retention_settings(r); });
  REQUIRE(settings.has_value());
  REQUIRE(settings->size() == 1);
  CHECK(settings->front().retrieved == 50);

  auto expired =
      f.call<ExpiredMailboxes>([&](auto r) { f.store->expired_mail_accounts({}, 200, r); });
  REQUIRE(expired.has_value());
  CHECK(expired->accounts == std::vector<std::int64_t>{f.alice});
  auto early =
      f.call<ExpiredMailboxes>([&](auto r) { f.store->expired_mail_accounts({}, 140, r); });
  REQUIRE(early.has_value());
  CHECK(early->accounts.empty());
  auto purged = f.call<int>([&](auto r) {
    f.store->purge_expired({}, 200, {f.alice, f.bob}, 10, r);
  });
  REQUIRE(purged.has_value());
  CHECK(*purged == 1);
  CHECK(f.count("SELECT count(*) FROM deliveries") == 2);
  CHECK(f.count("SELECT count(*) FROM contents") == 2);
}

}  // namespace
}  // namespace postroom::pgstore
