// The pool: units that commit or keep nothing, a FIFO when work outnumbers connections,
// and a PostgreSQL restart survived without restarting the pool.
#include "postroom/pgstore/pool.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <set>

#include "loop.hpp"
#include "pg_server.hpp"
#include "postroom/net/handles.hpp"

namespace postroom::pgstore {
namespace {

using test::Loop;
using test::PgServer;
using test::shared_server;

PoolOptions options_for(const PgServer& server, std::size_t connections) {
  PoolOptions o;
  o.conninfo = server.conninfo();
  o.connections = connections;
  o.backoff_first = std::chrono::milliseconds(20);
  o.backoff_max = std::chrono::milliseconds(200);
  return o;
}

PgResult<Rows> query(Loop& loop, Pool& pool, Statement statement, Params params = {}) {
  std::optional<PgResult<Rows>> out;
  pool.query(statement, std::move(params), [&](PgResult<Rows> r) { out = std::move(r); });
  REQUIRE(loop.run_until([&] { return out.has_value(); }));
  return std::move(*out);
}

PgResult<void> run(Loop& loop, Pool& pool, Unit unit) {
  std::optional<PgResult<void>> out;
  pool.run(std::move(unit), [&](PgResult<void> r) { out = std::move(r); });
  REQUIRE(loop.run_until([&] { return out.has_value(); }));
  return std::move(*out);
}

std::int64_t count(Loop& loop, Pool& pool, Statement statement) {
  auto rows = query(loop, pool, statement);
  REQUIRE(rows.has_value());
  return rows->int64(0, 0);
}

TEST_CASE("pool: a unit that fails mid-way keeps nothing") {
  Loop loop;
  Pool pool(loop.get(), options_for(shared_server(), 2));
  REQUIRE(query(loop, pool, {"", "DROP TABLE IF EXISTS unit_rows"}).has_value());
  REQUIRE(query(loop, pool, {"", "CREATE TABLE unit_rows (x bigint PRIMARY KEY)"}).has_value());
  constexpr Statement insert{"unit_insert", "INSERT INTO unit_rows VALUES ($1)"};
  constexpr Statement rows{"", "SELECT count(*) FROM unit_rows"};

  SUBCASE("a constraint refuses the third statement") {
    Unit unit;
    unit.steps.then(insert, Params().add(std::int64_t{1}))
        .then(insert, Params().add(std::int64_t{2}))
        .then(insert, Params().add(std::int64_t{1}));
    auto r = run(loop, pool, std::move(unit));
    REQUIRE(!r.has_value());
    CHECK(r.error().kind == PgError::Kind::constraint);
    CHECK(!r.error().temporary());
  }
  SUBCASE("a step's own check refuses its result") {
    Unit unit;
    unit.steps.then(insert, Params().add(std::int64_t{1}))
        .then({"", "SELECT count(*) FROM unit_rows"}, {}, [](Rows& r, Steps&) -> PgResult<void> {
          if (r.int64(0, 0) != 2) return pg_fail(PgError::Kind::check_failed, "want 2 rows");
          return {};
        });
    auto r = run(loop, pool, std::move(unit));
    REQUIRE(!r.has_value());
    CHECK(r.error().kind == PgError::Kind::check_failed);
  }
  CHECK(count(loop, pool, rows) == 0);
}

TEST_CASE("pool: a unit commits its steps, and steps queued by a check run next") {
  Loop loop;
  Pool pool(loop.get(), options_for(shared_server(), 1));
  REQUIRE(query(loop, pool, {"", "DROP TABLE IF EXISTS unit_chain"}).has_value());
  REQUIRE(
      query(loop, pool, {"", "CREATE TABLE unit_chain (id bigserial, parent bigint)"}).has_value());
  constexpr Statement add{"chain_add", "INSERT INTO unit_chain (parent) VALUES ($1) RETURNING id"};
  Unit unit;
  std::int64_t child_parent = -1;
  unit.steps.then(add, Params().add_null(), [&](Rows& r, Steps& next) -> PgResult<void> {
    next.then(add, Params().add(r.int64(0, 0)), [&](Rows&, Steps&) -> PgResult<void> {
      child_parent = 0;
      return {};
    });
    return {};
  });
  unit.steps.then({"", "SELECT count(*) FROM unit_chain WHERE parent IS NOT NULL"}, {},
                  [&](Rows& r, Steps&) -> PgResult<void> {
                    // Runs after the queued child: it sees it.
                    child_parent = r.int64(0, 0);
                    return {};
                  });
  REQUIRE(run(loop, pool, std::move(unit)).has_value());
  CHECK(child_parent == 1);
  CHECK(count(loop, pool, {"", "SELECT count(*) FROM unit_chain"}) == 2);
}

TEST_CASE("pool: more work than connections waits its turn") {
  Loop loop;
  SUBCASE("two connections share twelve units") {
    Pool pool(loop.get(), options_for(shared_server(), 2));
    REQUIRE(loop.run_until([&] { return pool.connected() == 2; }));
    std::set<std::int64_t> backends;
    int done = 0;
    for (int i = 0; i < 12; ++i) {
      pool.query({"", "SELECT pg_backend_pid(), pg_sleep(0.01)"}, {}, [&](PgResult<Rows> r) {
        if (r) backends.insert(r->int64(0, 0));
        ++done;
      });
    }
    CHECK(pool.waiting() == 10);
    REQUIRE(loop.run_until([&] { return done == 12; }));
    CHECK(backends.size() == 2);
    CHECK(pool.waiting() == 0);
  }
  SUBCASE("one connection answers in submission order") {
    Pool pool(loop.get(), options_for(shared_server(), 1));
    std::vector<std::int64_t> order;
    for (std::int64_t i = 0; i < 8; ++i) {
      pool.query({"", "SELECT $1::bigint"}, Params().add(i),
                 [&](PgResult<Rows> r) { order.push_back(r ? r->int64(0, 0) : -1); });
    }
    REQUIRE(loop.run_until([&] { return order.size() == 8; }));
    CHECK(order == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  }
  CHECK(loop.closes_clean());
}

void pause(Loop& loop, int ms) {
  net::Timer timer(loop.get());
  bool waited = false;
  timer.start(static_cast<std::uint64_t>(ms), [&] { waited = true; });
  loop.run_until([&] { return waited; });
}

// One test case for both: they stop and start the same server.
TEST_CASE(
    "pool: PostgreSQL restarted under work: temporary errors, then work again, and after "
    "a long outage the next request is served, not the one after the backoff") {
  Loop loop;
  auto restarted = test::restart_server();  // not the shared one: the others keep theirs
  auto& server = *restarted;
  {
    Pool pool(loop.get(), options_for(server, 2));
    REQUIRE(loop.run_until([&] { return pool.connected() == 2; }));

    // Four long statements: two running, two waiting for a connection.
    std::vector<PgResult<Rows>> in_flight;
    for (int i = 0; i < 4; ++i)
      pool.query({"", "SELECT pg_sleep(30)"}, {},
                 [&](PgResult<Rows> r) { in_flight.push_back(std::move(r)); });
    net::Timer stop(loop.get());
    stop.start(50, [&] { server.stop(); });
    REQUIRE(loop.run_until([&] { return in_flight.size() == 4; }));
    for (auto& r : in_flight) {
      REQUIRE(!r.has_value());
      CHECK(r.error().kind == PgError::Kind::connection_lost);
      CHECK(r.error().temporary());
    }

    // While the server is down, work is refused at once, never kept waiting.
    auto down = query(loop, pool, {"", "SELECT 1"});
    REQUIRE(!down.has_value());
    CHECK(down.error().temporary());

    server.start();
    std::optional<PgResult<Rows>> back;
    int tries = 0;
    while (tries < 200 && !(back && back->has_value())) {
      ++tries;
      back = query(loop, pool, {"", "SELECT 41 + 1"});
      if (!back->has_value()) {
        CHECK(back->error().temporary());
        pause(loop, 25);
      }
    }
    REQUIRE(back->has_value());
    CHECK((*back)->int64(0, 0) == 42);
  }

  auto o = options_for(server, 1);
  o.backoff_max = std::chrono::minutes(10);
  Pool pool(loop.get(), o);
  REQUIRE(loop.run_until([&] { return pool.connected() == 1; }));
  server.stop();
  // A long outage: every failed attempt doubles the backoff, to minutes after a dozen.
  for (int i = 0; i < 14; ++i) {
    auto down = query(loop, pool, {"", "SELECT 1"});
    REQUIRE(!down.has_value());
    CHECK(down.error().temporary());
    pause(loop, 30);
  }
  server.start();
  pause(loop, 30);
  auto back = query(loop, pool, {"", "SELECT 41 + 1"});
  REQUIRE(back.has_value());
  CHECK(back->int64(0, 0) == 42);
}

}  // namespace
}  // namespace postroom::pgstore

namespace postroom::pgstore {
namespace {

TEST_CASE("pool: a server that accepts but never answers times out instead of hanging work") {
  Loop loop;
  // A listening socket nobody accepts on: the kernel completes the handshake, then silence.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  PoolOptions o;
  o.conninfo = "host=127.0.0.1 port=" + std::to_string(ntohs(addr.sin_port)) +
               " dbname=postgres user=postroom";
  o.connections = 2;
  o.connect_timeout = std::chrono::milliseconds(100);
  {
    Pool pool(loop.get(), o);
    auto r = query(loop, pool, {"", "SELECT 1"});
    REQUIRE(!r.has_value());
    CHECK(r.error().kind == PgError::Kind::connection_lost);
    CHECK(pool.connected() == 0);
  }
  ::close(fd);
  CHECK(loop.closes_clean());
}

}  // namespace
}  // namespace postroom::pgstore
