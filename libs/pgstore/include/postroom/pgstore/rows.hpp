// A statement's result as typed rows, read from PostgreSQL's binary result format.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct pg_result;  // libpq's PGresult, kept out of the servers' headers

namespace postroom::pgstore {

class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* result);  // takes ownership

  int size() const;
  int columns() const;
  bool is_null(int row, int column) const;
  // int2, int4, int8 or bool columns.
  std::int64_t int64(int row, int column) const;
  bool boolean(int row, int column) const { return int64(row, column) != 0; }
  // text, varchar or bytea columns: the raw bytes, valid while the Rows live.
  std::string_view bytes(int row, int column) const;
  std::string text(int row, int column) const { return std::string(bytes(row, column)); }
  // Rows an INSERT, UPDATE or DELETE touched.
  std::int64_t affected() const;

 private:
  struct Clear {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Clear> result_;
};

}  // namespace postroom::pgstore
