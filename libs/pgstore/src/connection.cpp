// The asynchronous libpq state machine: connect, prepare once, execute, collect results.
#include "postroom/pgstore/connection.hpp"

#include <libpq-fe.h>

#include <cstring>
#include <optional>
#include <utility>

#include "poll_watcher.hpp"

namespace postroom::pgstore {

struct Connection::Request {
  Statement statement;
  Params params;
  Done done;
  Rows rows;                     // the last successful result
  std::optional<PgError> error;  // the first failed one
};

Connection::Connection(uv_loop_t* loop, ConnParams params)
    : loop_(loop), params_(std::move(params)) {}

Connection::~Connection() {
  *alive_ = false;
  watcher_.reset();  // libuv lets go of the socket before libpq closes it
  if (conn_) PQfinish(conn_);
}

void Connection::connect(std::function<void(PgResult<void>)> done) {
  connected_ = std::move(done);
  state_ = State::connecting;
  // Defaults first, the configured values last: libpq keeps the last value of a keyword (and
  // expands only the first dbname, which is the configured one), so anything the
  // administrator wrote wins. Keepalives and a TCP user timeout let a dead server or a cut
  // network end a request with an error instead of hanging it.
  std::vector<const char*> keys = {"keepalives", "keepalives_idle", "keepalives_interval",
                                   "keepalives_count", "tcp_user_timeout"};
  std::vector<const char*> values = {"1", "30", "10", "3", "60000"};
  for (const auto& [key, value] : params_) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectStartParams(keys.data(), values.data(), 1);
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) {
    std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
    state_ = State::lost;
    auto reply = std::exchange(connected_, nullptr);
    reply(pg_fail(PgError::Kind::connection_lost, why));
    return;
  }
  // libpq's rule: act as if PQconnectPoll had asked for writability first.
  watch(UV_WRITABLE);
}

void Connection::watch(int events) {
  int fd = PQsocket(conn_);
  // While connecting, libpq may close the socket and open the next host's or address's,
  // often under the same number: a watcher kept across that would watch a socket the
  // kernel already dropped from epoll, and never fire. So each connect step gets a fresh
  // one (a few of them per connection).
  if (!watcher_ || watcher_->fd() != fd || state_ == State::connecting) {
    watcher_.reset();
    if (fd < 0) return;
    watcher_ = std::make_unique<PollWatcher>(
        loop_, fd, [this](int status, int ready) { on_ready(status, ready); });
    if (!watcher_->ok()) {
      // Every caller of watch() returns right after it (or checks the state).
      break_off({PgError::Kind::connection_lost, "cannot watch the socket", {}});
      return;
    }
  }
  watcher_->want(events);
}

void Connection::on_ready(int status, int events) {
  if (status < 0 && state_ != State::connecting) {
    break_off({PgError::Kind::connection_lost, uv_strerror(status), {}});
    return;
  }
  switch (state_) {
    case State::connecting:
      poll_connect();
      break;
    case State::preparing:
    case State::running: {
      auto alive = alive_;  // a failed flush answers the request, whose owner may destroy us
      if (events & UV_WRITABLE) flush();
      if (*alive && request_ && (events & UV_READABLE)) consume();
      break;
    }
    case State::idle:
      // Nothing is expected: a readable socket means notices or the end of the connection.
      if (!PQconsumeInput(conn_) || PQstatus(conn_) == CONNECTION_BAD) {
        break_off({PgError::Kind::connection_lost, PQerrorMessage(conn_), {}});
        return;
      }
      while (!PQisBusy(conn_)) {
        PGresult* stray = PQgetResult(conn_);
        if (!stray) break;
        PQclear(stray);
      }
      break;
    case State::fresh:
    case State::lost:
      break;
  }
}

void Connection::poll_connect() {
  switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_READING:
      watch(UV_READABLE);
      return;
    case PGRES_POLLING_WRITING:
      watch(UV_WRITABLE);
      return;
    case PGRES_POLLING_OK: {
      PQsetnonblocking(conn_, 1);
      // Notices (NOTICE, WARNING) would go to stderr; the store reports errors itself.
      PQsetNoticeProcessor(
          conn_, [](void*, const char*) {}, nullptr);
      state_ = State::idle;
      watch(UV_READABLE);
      if (state_ == State::lost) return;  // break_off answered
      auto reply = std::exchange(connected_, nullptr);
      reply({});
      return;
    }
    default: {
      state_ = State::lost;
      watcher_.reset();
      auto reply = std::exchange(connected_, nullptr);
      reply(pg_fail(PgError::Kind::connection_lost, PQerrorMessage(conn_)));
      return;
    }
  }
}

void Connection::execute(const Statement& statement, Params params, Done done) {
  if (state_ != State::idle) {
    done(pg_fail(PgError::Kind::connection_lost, "connection not ready"));
    return;
  }
  request_ =
      std::make_unique<Request>(Request{statement, std::move(params), std::move(done), {}, {}});
  send();
}

void Connection::send() {
  auto& r = *request_;
  const auto& p = r.params;
  auto values = p.values();
  int sent = 0;
  if (r.statement.name.empty()) {
    state_ = State::running;
    sent =
        PQsendQueryParams(conn_, std::string(r.statement.sql).c_str(), p.size(), p.types().data(),
                          values.data(), p.lengths().data(), p.formats().data(), 1);
  } else if (!prepared_.contains(std::string(r.statement.name))) {
    state_ = State::preparing;
    sent = PQsendPrepare(conn_, std::string(r.statement.name).c_str(),
                         std::string(r.statement.sql).c_str(), p.size(), p.types().data());
  } else {
    state_ = State::running;
    sent = PQsendQueryPrepared(conn_, std::string(r.statement.name).c_str(), p.size(),
                               values.data(), p.lengths().data(), p.formats().data(), 1);
  }
  if (!sent) {
    break_off({PgError::Kind::connection_lost, PQerrorMessage(conn_), {}});
    return;
  }
  flush();
}

void Connection::flush() {
  int left = PQflush(conn_);
  if (left < 0) {
    break_off({PgError::Kind::connection_lost, PQerrorMessage(conn_), {}});
    return;
  }
  // Results may arrive before the last bytes leave; keep reading meanwhile.
  watch(left ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

void Connection::consume() {
  if (!PQconsumeInput(conn_)) {
    break_off({PgError::Kind::connection_lost, PQerrorMessage(conn_), {}});
    return;
  }
  while (!PQisBusy(conn_)) {
    PGresult* result = PQgetResult(conn_);
    if (!result) {
      finish();
      return;
    }
    auto status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      request_->rows = Rows(result);
    } else {
      if (!request_->error) request_->error = error_of(result);
      PQclear(result);
    }
  }
  if (PQstatus(conn_) == CONNECTION_BAD)
    break_off({PgError::Kind::connection_lost, PQerrorMessage(conn_), {}});
}

void Connection::finish() {
  if (state_ == State::preparing && !request_->error) {
    prepared_.insert(std::string(request_->statement.name));
    send();
    return;
  }
  if (PQstatus(conn_) == CONNECTION_BAD) {
    break_off(request_->error.value_or(
        PgError{PgError::Kind::connection_lost, PQerrorMessage(conn_), {}}));
    return;
  }
  state_ = State::idle;
  auto request = std::move(request_);
  if (request->error) {
    request->done(std::unexpected(std::move(*request->error)));
  } else {
    request->done(std::move(request->rows));
  }
}

void Connection::break_off(PgError error) {
  error.kind = PgError::Kind::connection_lost;
  state_ = State::lost;
  watcher_.reset();
  auto alive = alive_;
  if (connected_) {
    auto reply = std::exchange(connected_, nullptr);
    reply(std::unexpected(error));
    if (!*alive) return;
  }
  if (auto request = std::move(request_)) {
    request->done(std::unexpected(error));
    if (!*alive) return;
  }
  if (on_lost_) {
    auto lost = std::exchange(on_lost_, nullptr);
    lost(std::move(error));
  }
}

PgError Connection::error_of(pg_result* result) const {
  PgError error;
  const char* message = PQresultErrorMessage(result);
  error.message = message ? message : "";
  while (!error.message.empty() && error.message.back() == '\n') error.message.pop_back();
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  error.sqlstate = state ? state : "";
  const auto& s = error.sqlstate;
  if (PQstatus(conn_) == CONNECTION_BAD || s.starts_with("08") || s.starts_with("57P")) {
    error.kind = PgError::Kind::connection_lost;
  } else if (s == "40001" || s == "40P01") {
    error.kind = PgError::Kind::serialization;
  } else if (s.starts_with("23")) {
    error.kind = PgError::Kind::constraint;
  } else {
    error.kind = PgError::Kind::sql;
  }
  return error;
}

}  // namespace postroom::pgstore
