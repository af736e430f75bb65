// Decoding binary-format result columns: big-endian integers, raw bytes for text and bytea.
#include "postroom/pgstore/rows.hpp"

#include <libpq-fe.h>

#include <cstdlib>

#include "oids.hpp"

namespace postroom::pgstore {

void Rows::Clear::operator()(pg_result* r) const {
  PQclear(r);
}

Rows::Rows(pg_result* result) : result_(result) {}

int Rows::size() const {
  return result_ ? PQntuples(result_.get()) : 0;
}

int Rows::columns() const {
  return result_ ? PQnfields(result_.get()) : 0;
}

bool Rows::is_null(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::int64_t Rows::int64(int row, int column) const {
  const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column));
  int length = PQgetlength(result_.get(), row, column);
  switch (PQftype(result_.get(), column)) {
    case oid::boolean:
    case oid::int2:
    case oid::int4:
    case oid::int8:
      break;
    default:
      std::abort();  // a statement and its reader disagree: a programming error
  }
  if (length == 0) return 0;  // NULL
  // Two's complement, sign-extended from the first byte.
  std::uint64_t bits = (p[0] & 0x80) && length < 8 ? ~std::uint64_t{0} : 0;
  for (int i = 0; i < length; ++i) bits = (bits << 8) | p[i];
  return static_cast<std::int64_t>(bits);
}

std::string_view Rows::bytes(int row, int column) const {
  return {PQgetvalue(result_.get(), row, column),
          static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::int64_t Rows::affected() const {
  if (!result_) return 0;
  const char* n = PQcmdTuples(result_.get());
  return *n ? std::strtoll(n, nullptr, 10) : 0;
}

}  // namespace postroom::pgstore
