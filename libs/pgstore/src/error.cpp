// How a PostgreSQL error reads once it leaves the backend.
#include "postroom/pgstore/error.hpp"

namespace postroom::pgstore {

Error to_error(const PgError& error) {
  const char* kind = "error";
  switch (error.kind) {
    case PgError::Kind::connection_lost:
      kind = "connection lost";
      break;
    case PgError::Kind::serialization:
      kind = "serialization failure";
      break;
    case PgError::Kind::constraint:
      kind = "constraint";
      break;
    case PgError::Kind::sql:
      kind = "sql error";
      break;
    case PgError::Kind::check_failed:
      kind = "check failed";
      break;
  }
  return Error{std::string("postgresql ") + kind + ": " + error.message};
}

}  // namespace postroom::pgstore
