#include "postroom/store/queue.hpp"

#include <doctest/doctest.h>

#include "postroom/store/database.hpp"
#include "postroom/store/health.hpp"
#include "postroom/store/messages.hpp"
#include "put_message.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

namespace {
std::string enqueue(Database& db, std::vector<std::string> recipients) {
  auto stored = put_message(db, "Subject: q\r\n\r\nbody\r\n", {}, kChunkSize,
                            QueueRequest{"alice@example.test", recipients, false, true});
  REQUIRE(stored);
  return stored->queue_id;
}
}  // namespace

TEST_CASE("queue: recipients are listed, found, retried and attempts recorded") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto id = enqueue(*db, {"a@remote.test", "b@remote.test"});
  auto list = list_queue(*db);
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].queue_id == id);
  CHECK((*list)[0].state == "queued");
  auto now = (*list)[0].next_attempt;
  auto due = due_messages(*db, now, 10);
  REQUIRE(due->size() == 1);
  CHECK((*due)[0].recipients.size() == 2);
  CHECK((*due)[0].body_8bit);
  CHECK((*due)[0].size == 20);

  auto a = (*due)[0].recipients[0].row;
  auto b = (*due)[0].recipients[1].row;
  REQUIRE(record_attempt(
      *db, {a, "a@remote.test", RecipientState::delivered, now, "mx.remote.test", "250 ok"}, now));
  REQUIRE(record_attempt(
      *db, {b, "b@remote.test", RecipientState::deferred, now + 300, "mx.remote.test", "451 later"},
      now));
  list = list_queue(*db);
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].recipient == "b@remote.test");
  CHECK((*list)[0].attempts == 1);
  CHECK((*list)[0].last_reply == "451 later");
  CHECK(due_messages(*db, now, 10)->empty());
  CHECK(next_due(*db).value() == now + 300);

  auto shown = find_queued(*db, id);
  REQUIRE(shown->has_value());
  CHECK((*shown)->history[0].size() == 1);
  CHECK((*shown)->history[0][0].reply == "451 later");

  CHECK(retry_queue(*db, id).value() == 1);
  CHECK(due_messages(*db, now + 1, 10)->size() == 1);

  REQUIRE(record_attempt(
      *db, {b, "b@remote.test", RecipientState::bounced, now, "mx.remote.test", "550 no"}, now));
  CHECK(list_queue(*db)->empty());
  auto gone = db->prepare("SELECT count(*) FROM contents");
  REQUIRE(gone->step().value());
  CHECK(gone->column_int(0) == 0);  // the last recipient done releases the content
}

TEST_CASE("queue: the overview counts waiting recipients and names the oldest deferred one") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto empty = queue_overview(*db, 5);
  REQUIRE(empty);
  CHECK(empty->waiting_recipients == 0);
  CHECK_FALSE(empty->oldest_deferred);
  CHECK(empty->recent_failures.empty());

  auto first = enqueue(*db, {"a@remote.test", "b@remote.test"});
  auto second = enqueue(*db, {"c@remote.test"});
  auto due = due_messages(*db, list_queue(*db)->front().next_attempt, 10);
  REQUIRE(due->size() == 2);
  auto now = (*due)[0].created_at;
  const auto& one = (*due)[0].queue_id == first ? (*due)[0] : (*due)[1];
  const auto& two = (*due)[0].queue_id == first ? (*due)[1] : (*due)[0];
  REQUIRE(record_attempt(*db,
                         {one.recipients[0].row, "a@remote.test", RecipientState::delivered, now,
                          "mx.remote.test", "250 ok"},
                         now));
  REQUIRE(record_attempt(*db,
                         {one.recipients[1].row, "b@remote.test", RecipientState::deferred,
                          now + 300, "mx.remote.test", "451 4.7.1 later"},
                         now + 1));
  REQUIRE(record_attempt(*db,
                         {two.recipients[0].row, "c@remote.test", RecipientState::deferred,
                          now + 300, "", "4.4.1 connection refused"},
                         now + 2));
  auto overview = queue_overview(*db, 5);
  REQUIRE(overview);
  CHECK(overview->waiting_recipients == 2);
  CHECK(overview->waiting_messages == 2);
  CHECK(overview->deferred_recipients == 2);
  REQUIRE(overview->oldest_deferred);
  CHECK(overview->oldest_deferred->queue_id == first);  // queued first
  CHECK(overview->oldest_deferred->recipient == "b@remote.test");
  CHECK(overview->oldest_deferred->attempts == 1);
  CHECK(overview->oldest_deferred->last_reply == "451 4.7.1 later");
  // The delivered attempt is no failure; the newest failure comes first.
  REQUIRE(overview->recent_failures.size() == 2);
  CHECK(overview->recent_failures[0].queue_id == second);
  CHECK(overview->recent_failures[0].reply == "4.4.1 connection refused");
  CHECK(overview->recent_failures[1].recipient == "b@remote.test");
  CHECK(queue_overview(*db, 1)->recent_failures.size() == 1);
}

TEST_CASE("queue: delete drops the message, unknown IDs are errors") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto id = enqueue(*db, {"a@remote.test"});
  CHECK_FALSE(delete_queued(*db, "nope"));
  REQUIRE(delete_queued(*db, id));
  CHECK(list_queue(*db)->empty());
  CHECK_FALSE(find_queued(*db, id)->has_value());
}

TEST_CASE("store: backup makes a consistent copy that opens on its own") {
  TempDir dir;
  auto db = Database::open(dir.db());
  enqueue(*db, {"a@remote.test"});
  auto copy = (dir.path / "backup.db").string();
  REQUIRE(backup(*db, copy));
  CHECK_FALSE(backup(*db, copy));  // never overwrites
  auto restored = Database::open(copy, {.create = false});
  REQUIRE(restored);
  CHECK(list_queue(*restored)->size() == 1);
}
