// Away-reply settings and the per-sender memory: one reply per sender per interval, decided
// in the write that stores the reply, which goes out from the null sender.
#include "postroom/store/vacation.hpp"

#include <doctest/doctest.h>

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/queue.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

namespace {

bool local(std::string_view domain) {
  return domain == "example.test";
}

Vacation away(std::int64_t account) {
  Vacation v;
  v.account = account;
  v.subject = "Away";
  v.body = "Back on Monday.\r\n";
  v.interval_days = 7;
  return v;
}

VacationReply reply(std::int64_t account, const char* to) {
  return VacationReply{account, to, "From: alice@example.test\r\nSubject: Away\r\n\r\nBack.\r\n",
                       7 * 86400};
}

}  // namespace

TEST_CASE("vacation: set, show, replace and turn off a mailbox's setting") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "x");
  REQUIRE(alice);
  CHECK_FALSE(find_vacation(*db, *alice)->has_value());
  auto v = away(*alice);
  v.starts_at = 1000;
  v.ends_at = 2000;
  REQUIRE(set_vacation(*db, v, 500));
  auto found = find_vacation(*db, *alice);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->address == "alice@example.test");
  CHECK((*found)->subject == "Away");
  CHECK((*found)->body == "Back on Monday.\r\n");
  CHECK((*found)->starts_at == 1000);
  CHECK((*found)->ends_at == 2000);
  CHECK((*found)->interval_days == 7);
  v.starts_at.reset();
  v.subject = "";
  REQUIRE(set_vacation(*db, v, 600));
  auto list = list_vacations(*db);
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK_FALSE(list->front().starts_at.has_value());
  CHECK(list->front().subject.empty());
  CHECK(*clear_vacation(*db, *alice) == true);
  CHECK(*clear_vacation(*db, *alice) == false);
  CHECK(list_vacations(*db)->empty());
}

TEST_CASE("vacation: candidates carry the mailbox's aliases and the sender's last reply") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "x");
  auto bob = add_account(*db, "bob@example.test", "x");
  REQUIRE(alice);
  REQUIRE(bob);
  REQUIRE(add_alias(*db, "a.smith@example.test", {"alice@example.test"}));
  REQUIRE(set_vacation(*db, away(*alice), 100));
  auto found = vacations_for(*db, {*alice, *bob}, "carol@remote.test");
  REQUIRE(found);
  REQUIRE(found->size() == 1);  // bob has no setting
  const auto& c = found->front();
  CHECK(c.vacation.account == *alice);
  CHECK(c.own_addresses == std::vector<std::string>{"alice@example.test", "a.smith@example.test"});
  CHECK_FALSE(c.last_reply.has_value());
  REQUIRE(send_vacation_reply(*db, reply(*alice, "carol@remote.test"), 5000, local));
  found = vacations_for(*db, {*alice}, "carol@remote.test");
  REQUIRE(found);
  CHECK(found->front().last_reply == 5000);
  CHECK_FALSE(vacations_for(*db, {*alice}, "dave@remote.test")->front().last_reply.has_value());
}

TEST_CASE("vacation: one reply per sender per interval, queued from the null sender") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "x");
  REQUIRE(alice);
  REQUIRE(set_vacation(*db, away(*alice), 100));
  auto first = send_vacation_reply(*db, reply(*alice, "carol@remote.test"), 1000, local);
  REQUIRE(first);
  CHECK(first->sent == VacationSent::queued);
  auto queued = find_queued(*db, first->queue_id);
  REQUIRE(queued);
  REQUIRE(queued->has_value());
  CHECK((*queued)->sender == "");
  REQUIRE((*queued)->recipients.size() == 1);
  CHECK((*queued)->recipients.front().recipient == "carol@remote.test");
  // Within the interval: nothing more is stored.
  auto again = send_vacation_reply(*db, reply(*alice, "carol@remote.test"), 1000 + 86400, local);
  REQUIRE(again);
  CHECK(again->sent == VacationSent::too_soon);
  CHECK(list_queue(*db)->size() == 1);
  // Another sender is not held back by carol's reply.
  CHECK(send_vacation_reply(*db, reply(*alice, "dave@remote.test"), 1001, local)->sent ==
        VacationSent::queued);
  // After the interval carol gets one again.
  CHECK(
      send_vacation_reply(*db, reply(*alice, "carol@remote.test"), 1000 + 7 * 86400, local)->sent ==
      VacationSent::queued);
  CHECK(list_queue(*db)->size() == 3);
  // Setting the vacation again forgets who got a reply.
  REQUIRE(set_vacation(*db, away(*alice), 2000));
  CHECK(send_vacation_reply(*db, reply(*alice, "carol@remote.test"), 1000 + 7 * 86400 + 1, local)
            ->sent == VacationSent::queued);
}

TEST_CASE("vacation: a local sender gets the reply in its mailbox; a vanished one gets none") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "x");
  REQUIRE(add_account(*db, "bob@example.test", "x"));
  REQUIRE(alice);
  REQUIRE(set_vacation(*db, away(*alice), 100));
  CHECK(send_vacation_reply(*db, reply(*alice, "bob@example.test"), 1000, local)->sent ==
        VacationSent::delivered);
  auto bob = list_accounts(*db);
  REQUIRE(bob);
  for (const auto& a : *bob) CHECK(a.messages == (a.address == "bob@example.test" ? 1 : 0));
  CHECK(send_vacation_reply(*db, reply(*alice, "gone@example.test"), 1000, local)->sent ==
        VacationSent::dropped);
  CHECK(list_queue(*db)->empty());
}
