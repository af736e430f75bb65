// A few PostgreSQL connections shared by the servers: units wait in a FIFO for a free
// connection; a lost connection is answered with a temporary error and reconnected with
// backoff, so the process survives a database restart or failover.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "postroom/pgstore/connection.hpp"
#include "postroom/pgstore/unit.hpp"

namespace postroom::net {
class Timer;
}

namespace postroom::pgstore {

struct PoolOptions {
  std::string conninfo;  // a connection string or URI, used when `params` is empty
  ConnParams params;
  std::size_t connections = 4;
  std::chrono::milliseconds backoff_first{100};
  std::chrono::milliseconds backoff_max{5000};
  // A connection attempt that has not finished by then counts as failed (a server that
  // accepts but never answers, a standby not yet promoted).
  std::chrono::milliseconds connect_timeout{10000};
};

class Pool {
 public:
  using Done = std::function<void(PgResult<void>)>;

  Pool(uv_loop_t* loop, PoolOptions options);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  // Closes every connection; work still waiting is dropped unanswered (the loop is ending).
  ~Pool();

  // Runs `unit` on the next free connection; `done` runs once on the loop: success only
  // after COMMIT succeeded, which is as durable as the server's synchronous_commit makes it
  // (on: flushed to the primary's WAL; remote_apply with a synchronous standby: on both; off:
  // may be lost in a server crash). The DBA chooses; the store never lowers it. Work waits for a
  // connection being made (at most connect_timeout); while every connection is waiting out its
  // backoff after a failure, work wakes one (at most once per backoff_first), so a database back
  // from a restart or failover serves the next request rather than the one after the backoff.
  // When that attempt fails, or one failed just now, work is answered with connection_lost.
  void run(Unit unit, Done done);
  // One statement outside a transaction, with its rows.
  void query(Statement statement, Params params, std::function<void(PgResult<Rows>)> done);

  std::size_t connected() const;  // connections up (idle or busy)
  // Heard each time a connection that was up is lost (session state such as advisory locks
  // went with it).
  void on_connection_lost(std::function<void()> lost) { on_connection_lost_ = std::move(lost); }
  std::size_t waiting() const { return queue_.size(); }
  // Units given to run() and not answered yet (waiting or running): 0 once all is written.
  std::size_t in_flight() const { return *in_flight_; }

 private:
  enum class SlotState { connecting, idle, busy, backoff };
  struct Slot;
  struct Work {
    Unit unit;
    Done done;
  };
  struct Running;

  void start_connecting(Slot& slot);
  void lost(Slot& slot, const PgError& why);
  void pump();
  bool unavailable() const;
  // Starts connecting one connection that has been backing off for at least backoff_first.
  bool wake_one();
  void fail_waiting();
  void execute(Slot& slot, std::shared_ptr<Running> running);
  void next_step(Slot& slot, std::shared_ptr<Running> running);
  void end(Slot& slot, std::shared_ptr<Running> running, PgResult<void> result);

  uv_loop_t* loop_;
  PoolOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::deque<Work> queue_;
  std::unique_ptr<net::Timer> answer_timer_;
  std::function<void()> on_connection_lost_;  // answers refused work on the next turn
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Shared with the answers, which may outlive the pool.
  std::shared_ptr<std::size_t> in_flight_ = std::make_shared<std::size_t>(0);
};

}  // namespace postroom::pgstore
