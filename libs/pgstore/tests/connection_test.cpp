// One connection on the loop: typed parameters and rows, bytea in binary, prepared
// statements, typed errors.
#include "postroom/pgstore/connection.hpp"

#include <doctest/doctest.h>

#include <optional>

#include "loop.hpp"
#include "pg_server.hpp"

namespace postroom::pgstore {
namespace {

using test::Loop;
using test::shared_server;

// Connects and runs `statement` once; the result after the loop ran.
struct Fixture {
  Loop loop;
  std::unique_ptr<Connection> conn;

  Fixture() {
    conn = std::make_unique<Connection>(loop.get(), shared_server().conninfo());
    std::optional<PgResult<void>> up;
    conn->connect([&](PgResult<void> r) { up = std::move(r); });
    REQUIRE(loop.run_until([&] { return up.has_value(); }));
    REQUIRE(up->has_value());
  }
  PgResult<Rows> run(Statement statement, Params params = {}) {
    std::optional<PgResult<Rows>> out;
    conn->execute(statement, std::move(params), [&](PgResult<Rows> r) { out = std::move(r); });
    REQUIRE(loop.run_until([&] { return out.has_value(); }));
    return std::move(*out);
  }
};

TEST_CASE("connection: parameters go in typed and rows come back typed") {
  Fixture f;
  auto rows = f.run({"", "SELECT $1::bigint + 1, $2::text, $3::bool, NULL::text, -7::int4"},
                    Params().add(std::int64_t{41}).add("h\xc3\xa9llo 'quoted'").add(true));
  REQUIRE(rows.has_value());
  REQUIRE(rows->size() == 1);
  CHECK(rows->int64(0, 0) == 42);
  CHECK(rows->text(0, 1) == "h\xc3\xa9llo 'quoted'");
  CHECK(rows->boolean(0, 2));
  CHECK(rows->is_null(0, 3));
  CHECK(rows->int64(0, 4) == -7);
  f.conn.reset();
  CHECK(f.loop.closes_clean());
}

TEST_CASE("connection: a 1 MiB bytea goes and comes back as raw bytes") {
  Fixture f;
  std::string blob(1024 * 1024, '\0');
  for (std::size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  REQUIRE(f.run({"", "CREATE TEMP TABLE blobs (b bytea NOT NULL)"}).has_value());
  REQUIRE(f.run({"", "INSERT INTO blobs VALUES ($1)"}, Params().add_bytes(blob)).has_value());
  auto rows = f.run({"", "SELECT b, octet_length(b) FROM blobs"});
  REQUIRE(rows.has_value());
  CHECK(rows->int64(0, 1) == static_cast<std::int64_t>(blob.size()));
  CHECK(rows->bytes(0, 0).size() == blob.size());  // not hex text, twice the size
  CHECK(rows->bytes(0, 0) == blob);
}

TEST_CASE("connection: a named statement is prepared once and then reused") {
  Fixture f;
  constexpr Statement twice{"test_twice", "SELECT $1::bigint * 2"};
  for (std::int64_t i = 1; i <= 3; ++i) {
    auto rows = f.run(twice, Params().add(i));
    REQUIRE(rows.has_value());
    CHECK(rows->int64(0, 0) == 2 * i);
  }
  auto prepared = f.run({"", "SELECT count(*) FROM pg_prepared_statements WHERE name = $1"},
                        Params().add("test_twice"));
  REQUIRE(prepared.has_value());
  CHECK(prepared->int64(0, 0) == 1);
}

TEST_CASE("connection: errors say what kind they are") {
  Fixture f;
  auto division = f.run({"", "SELECT 1 / 0"});
  REQUIRE(!division.has_value());
  CHECK(division.error().kind == PgError::Kind::sql);
  CHECK(division.error().sqlstate == "22012");
  CHECK(!division.error().temporary());

  REQUIRE(f.run({"", "CREATE TEMP TABLE once (x int PRIMARY KEY)"}).has_value());
  REQUIRE(f.run({"", "INSERT INTO once VALUES (1)"}).has_value());
  auto twice = f.run({"", "INSERT INTO once VALUES (1)"});
  REQUIRE(!twice.has_value());
  CHECK(twice.error().kind == PgError::Kind::constraint);
  // The connection is usable after an error.
  auto after = f.run({"", "SELECT count(*) FROM once"});
  REQUIRE(after.has_value());
  CHECK(after->int64(0, 0) == 1);
}

TEST_CASE("connection: nobody listening is a lost connection, answered once") {
  Loop loop;
  int answers = 0;
  std::optional<PgError> error;
  {
    // Port 1 on loopback: nothing listens there.
    Connection conn(loop.get(), "host=127.0.0.1 port=1 dbname=postgres user=postroom");
    conn.connect([&](PgResult<void> r) {
      ++answers;
      if (!r) error = r.error();
    });
    REQUIRE(loop.run_until([&] { return answers > 0; }));
  }
  CHECK(answers == 1);
  REQUIRE(error.has_value());
  CHECK(error->kind == PgError::Kind::connection_lost);
  CHECK(error->temporary());
  CHECK(loop.closes_clean());
}

}  // namespace
}  // namespace postroom::pgstore
