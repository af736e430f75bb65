// Maildrop locks across pools (as across processes): a second holder is refused until the
// first lets go.
#include "postroom/pgstore/maildrop_locks.hpp"

#include <doctest/doctest.h>

#include <optional>

#include "loop.hpp"
#include "pg_server.hpp"

namespace postroom::pgstore {
namespace {

TEST_CASE("maildrop locks: a second holder from another pool is refused until release") {
  test::Loop loop;
  PoolOptions options;
  options.conninfo = test::shared_server().conninfo();
  MaildropLocks first(loop.get(), options), second(loop.get(), options);
  auto acquire = [&](MaildropLocks& locks, std::int64_t account) {
    std::optional<PgResult<bool>> out;
    locks.acquire(account, [&](PgResult<bool> r) { out = std::move(r); });
    REQUIRE(loop.run_until([&] { return out.has_value(); }));
    REQUIRE(out->has_value());
    return **out;
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

}  // namespace
}  // namespace postroom::pgstore
