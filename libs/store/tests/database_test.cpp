#include "postroom/store/database.hpp"

#include <doctest/doctest.h>

#include "postroom/store/migrations.hpp"
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
