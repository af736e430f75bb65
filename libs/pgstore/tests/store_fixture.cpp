// Creating the test database: CREATE DATABASE, the schema through psql, seed rows.
#include "store_fixture.hpp"

#include "postroom/pgschema/connection.hpp"
#include "postroom/pgschema/migrations.hpp"

#include <unistd.h>
#include <atomic>
#include <stdexcept>

namespace postroom::pgstore::test {

namespace {
// The schema as the daemon's migrations apply it (libs/pgschema).
bool apply_schema(const std::string& conninfo) {
  auto conn = pgschema::connect(conninfo);
  return conn && pgschema::migrate(conn->get()).has_value();
}
}  // namespace

DomainTest example_domains() {
  return [](std::string_view domain) { return domain == "example.test"; };
}

StoreFixture::StoreFixture() {
  static std::atomic<int> next{0};
  database = "t" + std::to_string(::getpid()) + "_" + std::to_string(next++);
  auto& server = shared_server();
  if (server.psql("postgres", "-c 'CREATE DATABASE " + database + "'") != 0 ||
      !apply_schema(server.conninfo(database)) ||
      server.psql(database,
                  "-c \"INSERT INTO accounts (address, password_hash, created_at) VALUES"
                  " ('alice@example.test', 'x', 0), ('bob@example.test', 'x', 0);"
                  " INSERT INTO aliases (alias, target) VALUES"
                  " ('both@example.test', 'alice@example.test'),"
                  " ('both@example.test', 'bob@example.test'),"
                  " ('both@example.test', 'carol@remote.test')\"") != 0)
    throw std::runtime_error("cannot create test database " + database);
  pool = std::make_unique<Pool>(loop.get(), options());
  store = std::make_unique<PgMailStore>(*pool);
  alice = count("SELECT id FROM accounts WHERE address = 'alice@example.test'");
  bob = count("SELECT id FROM accounts WHERE address = 'bob@example.test'");
}

StoreFixture::~StoreFixture() {
  store.reset();
  pool.reset();
  loop.run_until([] { return false; }, 0);
  shared_server().psql("postgres", "-c 'DROP DATABASE IF EXISTS " + database + " WITH (FORCE)'");
}

PoolOptions StoreFixture::options() const {
  PoolOptions o;
  o.conninfo = shared_server().conninfo(database);
  o.connections = 2;
  return o;
}

std::int64_t StoreFixture::count(const std::string& sql) {
  std::optional<PgResult<Rows>> out;
  pool->query({"", sql}, {}, [&](PgResult<Rows> r) { out = std::move(r); });
  loop.run_until([&] { return out.has_value(); });
  if (!out || !out->has_value() || (*out)->size() == 0) return -1;
  return (*out)->int64(0, 0);
}

}  // namespace postroom::pgstore::test
