// Errors of the PostgreSQL backend, typed by what a caller may do about them.
#pragma once

#include <expected>
#include <string>
#include <utility>

#include "postroom/base/error.hpp"

namespace postroom::pgstore {

struct PgError {
  enum class Kind {
    connection_lost,  // the connection broke or the server is down: try again later
    serialization,    // serialization failure or deadlock (SQLSTATE 40001, 40P01): try again
    constraint,       // a constraint refused the change (SQLSTATE class 23)
    sql,              // any other error the server reported
    check_failed,     // the unit's own check refused its result (for example a missing chunk)
  };
  Kind kind = Kind::sql;
  std::string message;
  std::string sqlstate;  // five characters when the server sent one

  // Whether the same work may succeed when submitted again (SMTP 451, POP3 [SYS/TEMP]).
  bool temporary() const { return kind == Kind::connection_lost || kind == Kind::serialization; }
};

template <class T>
using PgResult = std::expected<T, PgError>;

inline std::unexpected<PgError> pg_fail(PgError::Kind kind, std::string message) {
  return std::unexpected<PgError>(PgError{kind, std::move(message), {}});
}

// The store-wide error for a PostgreSQL one: every store error already means "not kept",
// which the servers answer with a temporary reply; the message keeps the kind readable.
Error to_error(const PgError& error);

}  // namespace postroom::pgstore
