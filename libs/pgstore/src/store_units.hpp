// Helpers shared by the store operations: running a unit whose value its steps fill in.
#pragma once

#include <memory>
#include <string>

#include "postroom/pgstore/pool.hpp"
#include "postroom/store/mail_store.hpp"
#include "write_lanes.hpp"

namespace postroom::pgstore {

// Runs `unit`; `done` gets `*value` once the unit committed, or the error (nothing kept).
template <class T>
void answer(Pool& pool, Unit unit, std::shared_ptr<T> value, store::Reply<T> done) {
  pool.run(std::move(unit), [value, done = std::move(done)](PgResult<void> r) {
    if (!done) return;
    if (!r) return done(std::unexpected(to_error(r.error())));
    done(std::move(*value));
  });
}

// The same for the writes of one message, in submission order (write_lanes.hpp).
template <class T>
void answer(WriteLanes& lanes, std::int64_t key, Unit unit, std::shared_ptr<T> value,
            store::Reply<T> done) {
  lanes.run(key, std::move(unit), [value, done = std::move(done)](PgResult<void> r) {
    if (!done) return;
    if (!r) return done(std::unexpected(to_error(r.error())));
    done(std::move(*value));
  });
}

inline void answer(WriteLanes& lanes, std::int64_t key, Unit unit, store::Reply<void> done) {
  lanes.run(key, std::move(unit), [done = std::move(done)](PgResult<void> r) {
    if (!done) return;
    if (!r) return done(std::unexpected(to_error(r.error())));
    done({});
  });
}

inline void answer(Pool& pool, Unit unit, store::Reply<void> done) {
  pool.run(std::move(unit), [done = std::move(done)](PgResult<void> r) {
    if (!done) return;
    if (!r) return done(std::unexpected(to_error(r.error())));
    done({});
  });
}

inline PgResult<void> refuse(std::string why) {
  return pg_fail(PgError::Kind::check_failed, std::move(why));
}

// A read-only snapshot for reads of several statements.
inline constexpr std::string_view kReadSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

}  // namespace postroom::pgstore
