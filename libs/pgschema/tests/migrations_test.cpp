#include "postroom/pgschema/migrations.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "postroom/pgschema/connection.hpp"
#include "postroom/pgschema/pg_server.hpp"
#include "postroom/store/database.hpp"

using namespace postroom::pgschema;

namespace {

// One server for the whole binary; each test case takes a database of its own.
const PgServer& server() {
  static PgServer s = [] {
    auto started = PgServer::start();
    if (!started) FAIL(started.error().message);
    return std::move(*started);
  }();
  return s;
}

Connection fresh_database(const std::string& name) {
  auto conninfo = server().create_database(name);
  REQUIRE_MESSAGE(conninfo, conninfo.error().message);
  auto conn = connect(*conninfo);
  REQUIRE_MESSAGE(conn, conn.error().message);
  return std::move(*conn);
}

std::string scalar(PGconn* conn, const std::string& sql) {
  auto r = query(conn, sql);
  REQUIRE_MESSAGE(r, r.error().message);
  REQUIRE(PQntuples(r->get()) == 1);
  return PQgetvalue(r->get(), 0, 0);
}

using Names = std::set<std::pair<std::string, std::string>>;

Names pg_names(PGconn* conn, const std::string& sql) {
  auto r = query(conn, sql);
  REQUIRE_MESSAGE(r, r.error().message);
  Names names;
  for (int i = 0; i < PQntuples(r->get()); ++i)
    names.emplace(PQgetvalue(r->get(), i, 0), PQgetvalue(r->get(), i, 1));
  return names;
}

Names sqlite_names(postroom::store::Database& db, const std::string& sql) {
  auto s = db.prepare(sql);
  REQUIRE(s);
  Names names;
  while (s->step().value()) names.emplace(s->column_text(0), s->column_text(1));
  return names;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "pgschema-test-XXXXXX").string();
    REQUIRE(mkdtemp(t.data()));
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("pgschema: migrations apply once, and a second run is a no-op") {
  auto conn = fresh_database("twice");
  CHECK(current_version(conn.get()).value() == 0);
  auto first = migrate(conn.get());
  REQUIRE_MESSAGE(first, first.error().message);
  CHECK(*first == static_cast<int>(known_migrations().size()));
  CHECK(current_version(conn.get()).value() == known_migrations().back().version);
  auto second = migrate(conn.get());
  REQUIRE_MESSAGE(second, second.error().message);
  CHECK(*second == 0);
  CHECK(scalar(conn.get(), "SELECT count(*) FROM schema_migrations") ==
        std::to_string(known_migrations().size()));
  CHECK(PQtransactionStatus(conn.get()) == PQTRANS_IDLE);
}

TEST_CASE("pgschema: a database newer than this binary is refused and left alone") {
  auto conn = fresh_database("newer");
  REQUIRE(migrate(conn.get()));
  int newer = known_migrations().back().version + 1;
  REQUIRE(query(conn.get(),
                "INSERT INTO schema_migrations(version, name, applied_at) VALUES ($1, 'x', 0)",
                {{std::to_string(newer)}}));
  auto refused = migrate(conn.get());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("newer than this postroom") != std::string::npos);
  CHECK(PQtransactionStatus(conn.get()) == PQTRANS_IDLE);
  CHECK(current_version(conn.get()).value() == newer);
}

TEST_CASE("pgschema: a failing migration leaves nothing behind") {
  auto conn = fresh_database("failing");
  // A table of the schema already there: the migration fails at CREATE TABLE accounts.
  REQUIRE(exec(conn.get(), "CREATE TABLE accounts (x int)"));
  auto failed = migrate(conn.get());
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message.find("0001_initial.sql") != std::string::npos);
  CHECK(scalar(conn.get(), "SELECT to_regclass('schema_migrations') IS NULL") == "t");
  CHECK(scalar(conn.get(), "SELECT to_regclass('contents') IS NULL") == "t");
}

TEST_CASE("pgschema: every SQLite table, column, index and trigger exists in PostgreSQL") {
  TempDir dir;
  auto sqlite = postroom::store::Database::open(dir.path / "store.db");
  REQUIRE(sqlite);
  auto conn = fresh_database("catalogue");
  REQUIRE(migrate(conn.get()));

  Names sqlite_columns =
      sqlite_names(*sqlite,
                   "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p"
                   " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'");
  Names pg_columns = pg_names(conn.get(),
                              "SELECT table_name, column_name FROM information_schema.columns"
                              " WHERE table_schema = 'public'");
  CHECK(sqlite_columns.size() > 80);  // the query found the store's tables
  for (const auto& [table, column] : sqlite_columns) {
    INFO("SQLite column ", table, ".", column);
    CHECK(pg_columns.contains({table, column}));
  }

  Names sqlite_indexes =
      sqlite_names(*sqlite,
                   "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'"
                   " AND name NOT LIKE 'sqlite_autoindex_%'");
  Names pg_indexes = pg_names(
      conn.get(), "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'");
  CHECK_FALSE(sqlite_indexes.empty());
  for (const auto& index : sqlite_indexes) {
    INFO("SQLite index ", index.second, " on ", index.first);
    CHECK(pg_indexes.contains(index));
  }

  Names sqlite_triggers =
      sqlite_names(*sqlite, "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'");
  Names pg_triggers = pg_names(conn.get(),
                               "SELECT c.relname, t.tgname FROM pg_trigger t"
                               " JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal");
  CHECK_FALSE(sqlite_triggers.empty());
  for (const auto& trigger : sqlite_triggers) {
    INFO("SQLite trigger ", trigger.second, " on ", trigger.first);
    CHECK(pg_triggers.contains(trigger));
  }
}

TEST_CASE("pgschema: the triggers keep usage counters and release contents as SQLite's do") {
  auto conn = fresh_database("triggers");
  REQUIRE(migrate(conn.get()));
  PGconn* c = conn.get();
  REQUIRE(
      exec(c,
           "INSERT INTO accounts(address, password_hash, created_at) VALUES ('a@x.test', 'h', 1);"
           "INSERT INTO contents(id, size, pop3_size, complete, created_at, chunks)"
           " VALUES (10, 98, 100, 1, 1, 1), (11, 48, 50, 1, 1, 1);"
           "INSERT INTO content_chunks(content_id, seq, data) VALUES (10, 0, '\\x00ff');"
           "INSERT INTO deliveries(account_id, content_id, uidl, delivered_at)"
           " VALUES (1, 10, 'u1', 1), (1, 10, 'u2', 1), (1, 11, 'u3', 1);"
           "INSERT INTO queue(queue_id, content_id, sender, created_at) VALUES ('q1', 11, '', 1)"));
  CHECK(scalar(c, "SELECT messages || '/' || bytes FROM mailbox_usage WHERE account_id = 1") ==
        "3/250");

  // Both deliveries of content 10 in one statement: the counters follow, the content goes.
  REQUIRE(exec(c, "DELETE FROM deliveries WHERE content_id = 10"));
  CHECK(scalar(c, "SELECT messages || '/' || bytes FROM mailbox_usage") == "1/50");
  CHECK(scalar(c, "SELECT count(*) FROM contents WHERE id = 10") == "0");
  CHECK(scalar(c, "SELECT count(*) FROM content_chunks") == "0");

  // Content 11 is still queued: deleting the account keeps it; the queue entry releases it.
  REQUIRE(exec(c, "DELETE FROM accounts"));
  CHECK(scalar(c, "SELECT count(*) FROM mailbox_usage") == "0");
  CHECK(scalar(c, "SELECT count(*) FROM contents WHERE id = 11") == "1");
  REQUIRE(exec(c, "DELETE FROM queue"));
  CHECK(scalar(c, "SELECT count(*) FROM contents") == "0");

  // The counters stop at zero rather than refuse a deletion.
  REQUIRE(
      exec(c,
           "INSERT INTO accounts(address, password_hash, created_at) VALUES ('b@x.test', 'h', 1);"
           "INSERT INTO contents(id, pop3_size, created_at) VALUES (12, 70, 1);"
           "INSERT INTO deliveries(account_id, content_id, uidl, delivered_at)"
           " VALUES (2, 12, 'u4', 1);"
           "UPDATE mailbox_usage SET messages = 0, bytes = 5"));
  REQUIRE(exec(c, "DELETE FROM deliveries"));
  CHECK(scalar(c, "SELECT messages || '/' || bytes FROM mailbox_usage") == "0/0");
}

TEST_CASE("pgschema: two processes migrating at once take turns; the schema is applied once") {
  auto first = fresh_database("together");
  auto second = connect(server().conninfo("together"));
  REQUIRE(second);
  postroom::Result<int> a = 0, b = 0;
  std::thread other([&] { b = migrate(second->get()); });
  a = migrate(first.get());
  other.join();
  REQUIRE_MESSAGE(a, a.error().message);
  REQUIRE_MESSAGE(b, b.error().message);
  CHECK(*a + *b == static_cast<int>(known_migrations().size()));
  CHECK((*a == 0 || *b == 0));
  CHECK(scalar(first.get(), "SELECT count(*) FROM schema_migrations") ==
        std::to_string(known_migrations().size()));
}
