// Opening the PostgreSQL store for postroomd.
#include "pg_backend.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <ctime>

#include "postroom/base/file.hpp"
#include "postroom/base/log.hpp"
#include "postroom/pgschema/connection.hpp"
#include "postroom/pgschema/migrations.hpp"
#include "postroom/pgstore/maildrop_locks.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "postroom/pgstore/pool.hpp"

namespace postroom::service {

namespace {

// Maildrop locks as PostgreSQL advisory locks (pgstore::MaildropLocks).
class AdvisoryLocks final : public MailboxLocks::Shared {
 public:
  AdvisoryLocks(uv_loop_t* loop, pgstore::PoolOptions options, std::function<void()> lost)
      : locks_(loop, std::move(options)) {
    locks_.on_locks_lost(std::move(lost));
  }
  void acquire(std::int64_t account, std::function<void(Result<bool>)> done) override {
    locks_.acquire(account, [done = std::move(done)](pgstore::PgResult<bool> got) {
      if (!got) return done(std::unexpected(pgstore::to_error(got.error())));
      done(*got);
    });
  }
  void release(std::int64_t account) override { locks_.release(account); }

 private:
  pgstore::MaildropLocks locks_;
};

}  // namespace

PgBackend::PgBackend() = default;
PgBackend::PgBackend(PgBackend&&) noexcept = default;
PgBackend& PgBackend::operator=(PgBackend&&) noexcept = default;
PgBackend::~PgBackend() = default;

Result<PgBackend> open_pg_backend(uv_loop_t* loop, const config::Config& config,
                                  std::function<void()> locks_lost) {
  const auto& pg = *config.store.postgresql;
  // Who this box is in the queue's leases: made once, kept with its data.
  auto node = load_or_create_token(config.data_dir / "node.id", 8, 16, "data_dir/node.id");
  if (!node) return std::unexpected(node.error());
  auto params = pg.connection_params();
  if (!params) return std::unexpected(params.error());
  {
    auto conn = pgschema::connect(*params);
    if (!conn) return fail("cannot connect to PostgreSQL: " + conn.error().message);
    auto applied = pgschema::migrate(conn->get());
    if (!applied) return fail("PostgreSQL schema: " + applied.error().message);
    auto given = pgschema::query(conn->get(),
                                 "UPDATE queue_recipients SET next_attempt = $1, leased_by = NULL"
                                 " WHERE leased_by = $2 AND state IN ('queued', 'deferred')",
                                 {{std::to_string(std::time(nullptr))}, {*node}});
    if (!given)
      return fail("PostgreSQL: cannot take back this box's queue leases: " + given.error().message);
    if (int n = std::atoi(PQcmdTuples(given->get())); n > 0)
      log_line("store: ", n,
               " queued recipient(s) this box was delivering when it stopped are due "
               "again");
  }
  pgstore::PoolOptions options;
  options.params = std::move(*params);
  options.connections = pg.pool_size;
  PgBackend backend;
  backend.locks = std::make_unique<AdvisoryLocks>(loop, options, std::move(locks_lost));
  backend.pool = std::make_unique<pgstore::Pool>(loop, std::move(options));
  backend.store = std::make_unique<pgstore::PgMailStore>(
      *backend.pool,
      pgstore::PgMailStoreOptions{.queue_lease_seconds = pg.queue_lease.count(), .node = *node});
  return backend;
}

}  // namespace postroom::service
