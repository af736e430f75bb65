// Maildrop locks across pools (as across processes): a second holder is refused until the
// first lets go.
#include "postroom/pgstore/maildrop_locks.hpp"

#include <doctest/doctest.h>

#include <optional>

#include "loop.hpp"
#include "pg_server.hpp"

namespace postroom::pgstore {
namespace {

namespace {
// Whether `locks` got the maildrop of `account`, waiting on the loop for the answer.
bool try_lock(test::Loop& loop, MaildropLocks& locks, std::int64_t account) {
  std::optional<PgResult<bool>> out;
  locks.acquire(account, [&](PgResult<bool> r) { out = std::move(r); });
  REQUIRE(loop.run_until([&] { return out.has_value(); }));
  REQUIRE(out->has_value());
  return **out;
}
}  // namespace

TEST_CASE("maildrop locks: a second holder from another pool is refused until release") {
  test::Loop loop;
  PoolOptions options;
  options.conninfo = test::shared_server().conninfo();
  MaildropLocks first(loop.get(), options), second(loop.get(), options);
  auto acquire = [&](MaildropLocks& locks, std::int64_t account) {
    return try_lock(loop, locks, account);
  };
  CHECK(acquire(first, 4242));
  CHECK(!acquire(second, 4242));
  CHECK(acquire(second, 4243));  // another maildrop is free
  bool released = false;
  first.release(4242, [&](PgResult<void> r) { released = r.has_value(); });
  REQUIRE(loop.run_until([&] { return released; }));
  CHECK(acquire(second, 4242));
  CHECK(!acquire(first, 4242));
}

TEST_CASE("maildrop locks: a lost lock connection is heard, and the maildrop is free again") {
  test::Loop loop;
  PoolOptions options;
  options.conninfo = test::shared_server().conninfo();
  options.backoff_first = std::chrono::milliseconds(20);
  MaildropLocks first(loop.get(), options), second(loop.get(), options);
  int lost = 0;
  first.on_locks_lost([&] { ++lost; });
  auto acquire = [&](MaildropLocks& locks, std::int64_t account) {
    return try_lock(loop, locks, account);
  };
  REQUIRE(acquire(first, 5151));
  CHECK(!acquire(second, 5151));
  // An administrator (or a failover) ends the holder's session.
  Pool admin(loop.get(), options);
  std::optional<PgResult<Rows>> killed;
  admin.query({"",
               "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
               " AND objid = 5151 AND granted"},
              {}, [&](PgResult<Rows> r) { killed = std::move(r); });
  REQUIRE(loop.run_until([&] { return killed.has_value(); }));
  REQUIRE(killed->has_value());
  REQUIRE((*killed)->size() == 1);
  REQUIRE(loop.run_until([&] { return lost > 0; }));
  CHECK(lost == 1);
  CHECK(acquire(second, 5151));
}

}  // namespace
}  // namespace postroom::pgstore
