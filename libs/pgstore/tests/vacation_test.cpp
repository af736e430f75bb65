// Away replies on PostgreSQL: the settings a message meets, one reply per interval.
#include <doctest/doctest.h>

#include "store_fixture.hpp"

namespace postroom::pgstore {
namespace {

using test::StoreFixture;

TEST_CASE("pgstore: an away reply goes once per interval to one sender") {
  StoreFixture f;
  f.count("INSERT INTO vacations (account_id, subject, body, interval_days, updated_at) VALUES (" +
          std::to_string(f.alice) + ", 'Away', 'Back soon', 7, 0)");
  auto candidates = f.call<std::vector<VacationCandidate>>([&](auto reply) {
    f.store->vacations_for({f.alice, f.bob}, "x@remote.test", reply);
  });
  REQUIRE(candidates.has_value());
  REQUIRE(candidates->size() == 1);
  CHECK((*candidates)[0].vacation.subject == "Away");
  CHECK((*candidates)[0].own_addresses ==
        std::vector<std::string>{"alice@example.test", "both@example.test"});
  CHECK(!(*candidates)[0].last_reply.has_value());

  VacationReply reply{f.alice, "x@remote.test", "Subject: Away\r\n\r\nBack soon\r\n", 7 * 86400};
  auto first = f.call<VacationOutcome>(
      [&](auto r) { f.store->send_vacation_reply(reply, test::example_domains(), r); });
  REQUIRE(first.has_value());
  CHECK(first->sent == VacationSent::queued);
  CHECK(!first->queue_id.empty());
  auto second = f.call<VacationOutcome>(
      [&](auto r) { f.store->send_vacation_reply(reply, test::example_domains(), r); });
  REQUIRE(second.has_value());
  CHECK(second->sent == VacationSent::too_soon);
  CHECK(f.count("SELECT count(*) FROM queue WHERE sender = ''") == 1);

  // To a local sender: delivered to its mailbox.
  VacationReply local{f.alice, "bob@example.test", "Subject: Away\r\n\r\nBack soon\r\n", 86400};
  auto delivered = f.call<VacationOutcome>(
      [&](auto r) { f.store->send_vacation_reply(local, test::example_domains(), r); });
  REQUIRE(delivered.has_value());
  CHECK(delivered->sent == VacationSent::delivered);
  CHECK(f.count("SELECT count(*) FROM deliveries WHERE account_id = " + std::to_string(f.bob)) ==
        1);
}

}  // namespace
}  // namespace postroom::pgstore
