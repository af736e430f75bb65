// POP3 maildrop locks that hold across processes and boxes: PostgreSQL session advisory
// locks on one dedicated connection, so two postroomd never serve one maildrop at once.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "postroom/pgstore/pool.hpp"

namespace postroom::pgstore {

class MaildropLocks {
 public:
  // A pool of one connection: session locks belong to the connection that took them.
  MaildropLocks(uv_loop_t* loop, PoolOptions options);

  // Answers true when this process now holds the maildrop, false when another holder (here
  // or in another process) has it. A lost connection answers connection_lost; the server
  // then drops every lock it held, so a holder must treat its session as ended.
  void acquire(std::int64_t account, std::function<void(PgResult<bool>)> done);
  void release(std::int64_t account, std::function<void(PgResult<void>)> done = nullptr);
  // Heard when the connection holding the locks is lost: the server has let go of every
  // lock this process held, so every session holding one must end (another box may take
  // its maildrop now).
  void on_locks_lost(std::function<void()> lost) { pool_.on_connection_lost(std::move(lost)); }

 private:
  Pool pool_;
};

}  // namespace postroom::pgstore
