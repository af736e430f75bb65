#include "postroom/store/export.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "put_message.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

namespace {

std::size_t position(const std::vector<TableInfo>& tables, const std::string& name) {
  auto it = std::find_if(tables.begin(), tables.end(),
                         [&](const TableInfo& t) { return t.name == name; });
  REQUIRE_MESSAGE(it != tables.end(), name);
  return static_cast<std::size_t>(it - tables.begin());
}

std::vector<std::vector<Value>> rows_of(Database& db, const TableInfo& table) {
  std::vector<std::vector<Value>> rows;
  auto r = export_table(db, table, [&](const std::vector<Value>& row) -> postroom::Result<void> {
    rows.push_back(row);
    return {};
  });
  REQUIRE_MESSAGE(r, r.error().message);
  return rows;
}

}  // namespace

TEST_CASE("export: every store table, each after the tables it refers to") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto tables = list_tables(*db);
  REQUIRE(tables);
  CHECK(tables->size() > 25);
  for (const auto& t : *tables) {
    CHECK(t.name.rfind("sqlite_", 0) != 0);
    for (const auto& r : t.references) CHECK(position(*tables, r) < position(*tables, t.name));
  }
  CHECK(position(*tables, "accounts") < position(*tables, "deliveries"));
  CHECK(position(*tables, "contents") < position(*tables, "content_chunks"));
  CHECK(position(*tables, "queue") < position(*tables, "queue_recipients"));
  const auto& aliases = tables->at(position(*tables, "aliases"));
  CHECK(aliases.primary_key == std::vector<std::string>{"alias", "target"});
  const auto& deliveries = tables->at(position(*tables, "deliveries"));
  CHECK(deliveries.columns.front() == "id");
  CHECK(deliveries.primary_key == std::vector<std::string>{"id"});
}

TEST_CASE("export: rows come typed, blobs byte for byte, in primary key order") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto bob = add_account(*db, "bob@example.test", "h2");
  auto alice = add_account(*db, "alice@example.test", "h1");
  REQUIRE(alice);
  REQUIRE(bob);
  std::string body("Subject: x\r\n\r\n\0\xff\x01 bytes", 21);
  REQUIRE(put_message(*db, body, {*alice}, 8));
  auto tables = list_tables(*db);
  REQUIRE(tables);

  auto accounts = rows_of(*db, tables->at(position(*tables, "accounts")));
  REQUIRE(accounts.size() == 2);
  CHECK(accounts[0][0] == Value(*bob));  // by id, not by address
  CHECK(accounts[0][1] == Value(std::string("bob@example.test")));

  const auto& chunk_table = tables->at(position(*tables, "content_chunks"));
  auto data = std::find(chunk_table.columns.begin(), chunk_table.columns.end(), "data") -
              chunk_table.columns.begin();
  std::string joined;
  for (const auto& row : rows_of(*db, chunk_table)) joined += std::get<Blob>(row.at(data)).bytes;
  CHECK(joined == body);

  const auto& deliveries = tables->at(position(*tables, "deliveries"));
  auto retrieved =
      std::find(deliveries.columns.begin(), deliveries.columns.end(), "first_retrieved_at") -
      deliveries.columns.begin();
  auto rows = rows_of(*db, deliveries);
  REQUIRE(rows.size() == 1);
  CHECK(std::holds_alternative<std::monostate>(rows[0].at(retrieved)));

  // A callback's error stops the export and comes back.
  auto stopped = export_table(
      *db, chunk_table,
      [](const std::vector<Value>&) -> postroom::Result<void> { return postroom::fail("enough"); });
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().message == "enough");
}

TEST_CASE("export: AUTOINCREMENT marks stay past deleted ids") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  REQUIRE(add_account(*db, "a@example.test", "h"));
  auto b = add_account(*db, "b@example.test", "h");
  REQUIRE(b);
  REQUIRE(delete_account(*db, "b@example.test"));
  auto marks = autoincrement_marks(*db);
  REQUIRE(marks);
  CHECK(marks->at("accounts") == *b);
  auto max_id = db->prepare("SELECT max(id) FROM accounts");
  REQUIRE(max_id);
  REQUIRE(max_id->step().value());
  CHECK(max_id->column_int(0) < *b);
}
