#include "postroom/store/database.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include "postroom/store/accounts.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/migrations.hpp"
#include "postroom/store/queue.hpp"
#include "postroom/store/verify.hpp"
#include "put_message.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

namespace {
std::string pragma(Database& db, const char* name) {
  auto s = db.prepare(std::string("PRAGMA ") + name);
  REQUIRE(s);
  REQUIRE(s->step().value());
  return s->column_text(0);
}
}  // namespace

TEST_CASE("store: open creates the directory, migrates and sets durable pragmas") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  CHECK(std::filesystem::exists(dir.db()));
  CHECK(pragma(*db, "journal_mode") == "wal");
  CHECK(pragma(*db, "synchronous") == "2");  // FULL
  CHECK(pragma(*db, "foreign_keys") == "1");
  auto v = db->prepare("SELECT max(version), count(*) FROM schema_migrations");
  REQUIRE(v);
  REQUIRE(v->step().value());
  CHECK(v->column_int(0) == known_migrations().back().version);
  CHECK(v->column_int(1) == static_cast<std::int64_t>(known_migrations().size()));
}

TEST_CASE("store: migrations are applied once") {
  TempDir dir;
  { REQUIRE(Database::open(dir.db())); }
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto v = db->prepare("SELECT count(*) FROM schema_migrations");
  REQUIRE(v->step().value());
  CHECK(v->column_int(0) == static_cast<std::int64_t>(known_migrations().size()));
}

TEST_CASE("store: a database newer than the binary is refused with a clear error") {
  TempDir dir;
  {
    auto db = Database::open(dir.db());
    REQUIRE(db);
    REQUIRE(db->exec("INSERT INTO schema_migrations VALUES (9999, 'future', 0)"));
  }
  auto db = Database::open(dir.db());
  REQUIRE_FALSE(db);
  CHECK(db.error().message.find("newer than this postroom") != std::string::npos);
}

TEST_CASE("store: opening without create fails on a missing database") {
  TempDir dir;
  auto db = Database::open(dir.db(), {.create = false, .migrate = false});
  REQUIRE_FALSE(db);
  CHECK_FALSE(std::filesystem::exists(dir.db()));
}

TEST_CASE("store: a transaction not committed is rolled back") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  {
    auto tx = Transaction::begin(*db);
    REQUIRE(tx);
    REQUIRE(db->exec("INSERT INTO aliases VALUES ('a@x', 'b@y')"));
  }
  auto s = db->prepare("SELECT count(*) FROM aliases");
  REQUIRE(s->step().value());
  CHECK(s->column_int(0) == 0);
}

TEST_CASE("store: a read transaction sees one snapshot until it ends") {
  TempDir dir;
  auto writer = Database::open(dir.db());
  auto reader = Database::open(dir.db());
  REQUIRE(writer);
  REQUIRE(reader);
  auto aliases = [&] {
    auto s = reader->prepare("SELECT count(*) FROM aliases");
    REQUIRE(s->step().value());
    return s->column_int(0);
  };
  {
    auto snapshot = ReadTransaction::begin(*reader);
    REQUIRE(snapshot);
    CHECK(aliases() == 0);
    REQUIRE(writer->exec("INSERT INTO aliases VALUES ('a@x', 'b@y')"));
    CHECK(aliases() == 0);  // committed meanwhile, but not in this snapshot
  }
  CHECK(aliases() == 1);                         // ended: the next statement sees the commit
  auto again = ReadTransaction::begin(*reader);  // and the connection can begin anew
  CHECK(again);
}

TEST_CASE("store: a statement read only half-way does not pin an old snapshot") {
  TempDir dir;
  auto writer = Database::open(dir.db());
  auto reader = Database::open(dir.db());
  REQUIRE(writer->exec("INSERT INTO aliases VALUES ('a@x', 'b@y'), ('c@x', 'd@y')"));
  {
    auto s = reader->prepare("SELECT alias FROM aliases");
    REQUIRE(s->step().value());  // one row of two, then the handle goes away
  }
  REQUIRE(writer->exec("INSERT INTO aliases VALUES ('e@x', 'f@y')"));
  auto count = reader->prepare("SELECT count(*) FROM aliases");
  REQUIRE(count->step().value());
  CHECK(count->column_int(0) == 3);
}

TEST_CASE("store: a schema-1 store migrates to schema 2 with every row, UIDL and reference kept") {
  TempDir dir;
  std::filesystem::create_directories(dir.db().parent_path());
  {
    // A store as postroom 0.1 left it: schema 1 only, with mail, an alias and a queue entry.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(dir.db().c_str(), &raw) == SQLITE_OK);
    std::string sql =
        std::string(known_migrations().front().sql) +
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL, applied_at INTEGER NOT NULL);"
        "INSERT INTO schema_migrations VALUES (1, '0001_initial.sql', 0);"
        "INSERT INTO accounts VALUES (7, 'alice@example.test', 'h', 0);"
        "INSERT INTO aliases VALUES ('team@example.test', 'alice@example.test');"
        "INSERT INTO contents VALUES (3, 5, 5, 1, 0);"
        "INSERT INTO content_chunks VALUES (1, 3, 0, 'hello');"
        "INSERT INTO deliveries VALUES (9, 7, 3, 'old-uidl-9', 0);"
        "INSERT INTO queue VALUES (4, 'q4', 3, 'alice@example.test', 0, 0, 0);"
        "INSERT INTO queue_recipients VALUES (5, 4, 'x@remote.test', 'deferred', 1, 0, '');"
        "INSERT INTO queue_history VALUES (6, 5, 0, 'mx', '451 later');";
    char* error = nullptr;
    REQUIRE_MESSAGE(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK,
                    (error ? error : ""));
    sqlite3_close(raw);
  }
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto box = list_mailbox(*db, 7);
  REQUIRE(box);
  REQUIRE(box->size() == 1);
  CHECK((*box)[0].uidl == "old-uidl-9");  // clients that keep mail see the same UIDL
  CHECK((*box)[0].delivery_id == 9);
  auto queued = find_queued(*db, "q4");
  REQUIRE(queued);
  REQUIRE(*queued);
  CHECK((*queued)->recipients.size() == 1);
  CHECK((*queued)->history.at(0).size() == 1);
  auto route = resolve_recipient(*db, "team@example.test",
                                 [](std::string_view d) { return d == "example.test"; });
  REQUIRE(route);
  CHECK(route->accounts == std::vector<std::int64_t>{7});
  // The release trigger is back: deleting the last reference removes the content.
  REQUIRE(db->exec("DELETE FROM queue"));
  REQUIRE(db->exec("DELETE FROM deliveries"));
  auto left = db->prepare("SELECT count(*) FROM contents");
  REQUIRE(left->step().value());
  CHECK(left->column_int(0) == 0);
  // A deleted account's id is never handed out again.
  REQUIRE(delete_account(*db, "alice@example.test"));
  CHECK(add_account(*db, "bob@example.test", "h").value() == 8);
}

TEST_CASE("store: verify finds a message whose chunk went missing") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto stored = put_message(*db, "0123456789abcdef", {alice}, 4);
  REQUIRE(stored);
  auto clean = verify_store(*db);
  REQUIRE(clean);
  CHECK(clean->problems.empty());
  CHECK(clean->contents == 1);
  auto s = db->prepare("DELETE FROM content_chunks WHERE content_id = ? AND seq = 1");
  s->bind(1, stored->content_id);
  REQUIRE(s->run());
  auto damaged = verify_store(*db);
  REQUIRE(damaged);
  REQUIRE(damaged->problems.size() >= 2);  // a gap in the numbering, and missing octets
  CHECK(damaged->problems[0].find("content " + std::to_string(stored->content_id)) !=
        std::string::npos);
}

TEST_CASE("store: commit_content refuses a content with a gap or another session's id") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto id = new_content_id();
  REQUIRE(start_content(*db, id));
  REQUIRE(append_chunk(*db, id, 0, "abcd"));
  REQUIRE(append_chunk(*db, id, 2, "ijkl"));  // chunk 1 was lost with its batch
  auto gap = commit_content(*db, id, {3, 12, 12}, {{alice}, std::nullopt});
  CHECK_FALSE(gap);
  CHECK(gap.error().message.find("incomplete") != std::string::npos);
  CHECK_FALSE(start_content(*db, id));  // an id already taken is never shared
  auto never_started = commit_content(*db, new_content_id(), {0, 0, 0}, {{alice}, std::nullopt});
  CHECK_FALSE(never_started);  // not an open content of this session
  auto twice = put_message(*db, "x", {alice});
  REQUIRE(twice);
  CHECK_FALSE(commit_content(*db, twice->content_id, {1, 1, 3}, {{alice}, std::nullopt}));
}
