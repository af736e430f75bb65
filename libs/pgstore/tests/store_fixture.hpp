// A fresh database with postroom's PostgreSQL schema for one test, two accounts and an
// alias to both, and a PgMailStore over a pool on it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "loop.hpp"
#include "pg_server.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"

namespace postroom::pgstore::test {

class StoreFixture {
 public:
  StoreFixture();
  ~StoreFixture();

  PoolOptions options() const;
  // Runs `statement` on the test database and answers its single number.
  std::int64_t count(const std::string& sql);
  // Calls `op(reply)` and runs the loop until the reply came.
  template <class T, class Op>
  Result<T> call(Op op) {
    Result<T> out = fail("no reply");
    bool answered = false;
    op([&](Result<T> r) {
      out = std::move(r);
      answered = true;
    });
    loop.run_until([&] { return answered; });
    return out;
  }

  Loop loop;
  std::string database;
  std::int64_t alice = 0, bob = 0;  // accounts; both@example.test is an alias to both
  std::unique_ptr<Pool> pool;
  std::unique_ptr<PgMailStore> store;
};

DomainTest example_domains();

}  // namespace postroom::pgstore::test
