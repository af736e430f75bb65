// One PostgreSQL connection driven by the event loop: libpq's asynchronous API with the
// connection's socket watched by a uv_poll_t, one request at a time.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "postroom/pgstore/error.hpp"
#include "postroom/pgstore/params.hpp"
#include "postroom/pgstore/rows.hpp"
#include "postroom/pgstore/statement.hpp"

struct pg_conn;  // libpq's PGconn

namespace postroom::pgstore {

class PollWatcher;

// libpq keywords and values (config::PostgresqlStore::connection_params()); a "dbname" holding
// a whole connection string or URI is expanded in place (libpq's expand_dbname).
using ConnParams = std::vector<std::pair<std::string, std::string>>;
// A connection string or URI as ConnParams.
inline ConnParams conninfo_params(std::string conninfo) {
  return {{"dbname", std::move(conninfo)}};
}

class Connection {
 public:
  using Done = std::function<void(PgResult<Rows>)>;

  Connection(uv_loop_t* loop, ConnParams params);
  // `conninfo` is a libpq connection string or URI.
  Connection(uv_loop_t* loop, std::string conninfo)
      : Connection(loop, conninfo_params(std::move(conninfo))) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Safe inside this connection's own callbacks: nothing touches it afterwards.
  ~Connection();

  // Starts connecting; `done` runs once, on the loop.
  void connect(std::function<void(PgResult<void>)> done);
  // Runs one statement (prepared under its name the first time on this connection) with
  // results in binary format; only when ready(). `done` runs once, on the loop; a broken
  // connection answers connection_lost.
  void execute(const Statement& statement, Params params, Done done);
  bool ready() const { return state_ == State::idle; }
  bool lost() const { return state_ == State::lost; }
  // Heard once when the connection breaks, after a request in flight heard it as its error.
  void on_lost(std::function<void(PgError)> lost) { on_lost_ = std::move(lost); }

 private:
  enum class State { fresh, connecting, idle, preparing, running, lost };
  struct Request;

  void watch(int events);
  void on_ready(int status, int events);
  void poll_connect();
  void send();
  void flush();
  void consume();
  void finish();
  void break_off(PgError error);
  PgError error_of(pg_result* result) const;

  uv_loop_t* loop_;
  ConnParams params_;
  pg_conn* conn_ = nullptr;
  std::unique_ptr<PollWatcher> watcher_;  // declared after conn_: stopped before PQfinish
  State state_ = State::fresh;
  std::unordered_set<std::string> prepared_;
  std::unique_ptr<Request> request_;
  std::function<void(PgResult<void>)> connected_;
  std::function<void(PgError)> on_lost_;
  // Cleared by the destructor so that a callback that destroyed this connection returns
  // without touching it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace postroom::pgstore
