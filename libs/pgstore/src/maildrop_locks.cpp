// Maildrop locks as advisory locks: (class, account) keys, taken without waiting.
#include "postroom/pgstore/maildrop_locks.hpp"

namespace postroom::pgstore {

namespace {
// The advisory-lock class of maildrops ("pop" in ASCII): other users of advisory locks in the
// same database pick other classes.
constexpr std::int64_t kMaildropClass = 0x706f70;
constexpr Statement kTryLock{"maildrop_lock", "SELECT pg_try_advisory_lock($1::int4, $2::int4)"};
constexpr Statement kUnlock{"maildrop_unlock", "SELECT pg_advisory_unlock($1::int4, $2::int4)"};

PoolOptions one_connection(PoolOptions options) {
  options.connections = 1;
  return options;
}
}  // namespace

MaildropLocks::MaildropLocks(uv_loop_t* loop, PoolOptions options)
    : pool_(loop, one_connection(std::move(options))) {}

void MaildropLocks::acquire(std::int64_t account, std::function<void(PgResult<bool>)> done) {
  pool_.query(kTryLock, Params().add(kMaildropClass).add(account),
              [done = std::move(done)](PgResult<Rows> r) {
                if (!r) return done(std::unexpected(r.error()));
                done(r->boolean(0, 0));
              });
}

void MaildropLocks::release(std::int64_t account, std::function<void(PgResult<void>)> done) {
  pool_.query(kUnlock, Params().add(kMaildropClass).add(account),
              [done = std::move(done)](PgResult<Rows> r) {
                if (!done) return;
                if (!r) return done(std::unexpected(r.error()));
                done({});
              });
}

}  // namespace postroom::pgstore
