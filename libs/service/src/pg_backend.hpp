// The PostgreSQL store as postroomd runs it: the schema brought up to date at start, the
// connection pool the store works on, and the maildrop locks other postroomd see.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "postroom/base/error.hpp"
#include "postroom/config/config.hpp"
#include "postroom/service/mailbox_locks.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::pgstore {
class Pool;
class PgMailStore;
}  // namespace postroom::pgstore

namespace postroom::service {

struct PgBackend {
  std::unique_ptr<pgstore::Pool> pool;
  std::unique_ptr<pgstore::PgMailStore> store;
  std::unique_ptr<MailboxLocks::Shared> locks;

  PgBackend();
  PgBackend(PgBackend&&) noexcept;
  PgBackend& operator=(PgBackend&&) noexcept;
  ~PgBackend();
};

// Connects once synchronously (start-up, before anything is served, as the SQLite file is
// opened) to apply the schema migrations, so that a wrong address, password or schema stops
// the start with the server's reason; and to make due again the queue leases this box
// (data_dir/node.id) held when it died. `locks_lost` is heard when the connection holding this
// process's maildrop locks breaks.
Result<PgBackend> open_pg_backend(uv_loop_t* loop, const config::Config& config,
                                  std::function<void()> locks_lost);

}  // namespace postroom::service
