// RAII over one SQLite connection and its cached prepared statements.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace postroom::store {

// A prepared statement borrowed from the Database cache. Binding is 1-based as in SQLite.
// step() returns true while a row is available. The statement is reset when this handle
// goes away: a half-read statement would otherwise keep its read transaction (and so an
// old WAL snapshot) open.
class Statement {
 public:
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() {
    if (stmt_) reset();
  }

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_null(int index);

  Result<bool> step();  // true: a row; false: done
  Result<void> run();   // step until done (for statements without rows)

  enum class ColumnType { null, integer, real, text, blob };
  ColumnType column_type(int index) const;  // as stored in this row (SQLite's typing)
  std::int64_t column_int(int index) const;
  double column_double(int index) const;
  std::string column_text(int index) const;
  std::string_view column_blob(int index) const;  // valid until the next step
  bool column_is_null(int index) const;

  struct Deleter {
    void operator()(sqlite3_stmt* s) const;
  };

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void reset();

  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

struct OpenOptions {
  bool create = true;   // create data_dir and the file when missing (an existing empty
                        // file is refused, never taken for a new store)
  bool migrate = true;  // apply schema/ migrations
  bool check = false;   // a bounded structural check of an existing file (daemon start)
};

// One connection in WAL mode with foreign keys on and synchronous=FULL.
// Not thread-safe: each thread uses its own Database.
class Database {
 public:
  static Result<Database> open(const std::filesystem::path& file, OpenOptions options = {});

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  // A cached statement for `sql`; SQL always goes through prepared statements.
  Result<Statement> prepare(std::string_view sql);
  // Runs SQL text with no parameters (migrations, PRAGMAs).
  Result<void> exec(const std::string& sql);
  // Runs one statement with no parameters and no rows, prepared once and cached: the
  // writer's BEGIN, SAVEPOINT, RELEASE and COMMIT of every batch, not parsed again each time.
  Result<void> run(std::string_view sql);

  std::int64_t last_insert_id() const;
  int changes() const;
  // Inside a transaction (SQLite may end one by itself after a full disk or I/O error).
  bool in_transaction() const;
  // The last statement failed because the disk (or the database's size limit) is full.
  bool last_error_was_full() const;
  // The file at the path opened is still the one this connection writes: not removed,
  // not replaced by another (an error naming what happened otherwise).
  Result<void> still_same_file() const;
  // Frees the page cache pages it can (the idle daemon gives them back to the system).
  void release_memory();
  sqlite3* handle() const { return db_.get(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  explicit Database(sqlite3* db);
  std::filesystem::path path_;
  std::uint64_t device_ = 0, inode_ = 0;

  // Declared after the connection so the statements are finalized before it closes.
  std::unique_ptr<sqlite3, Closer> db_;
  std::map<std::string, std::unique_ptr<sqlite3_stmt, Statement::Deleter>, std::less<>> cache_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
class Transaction {
 public:
  static Result<Transaction> begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction(const Transaction&) = delete;
  ~Transaction();
  Result<void> commit();

 private:
  explicit Transaction(Database& db) : db_(&db) {}
  Database* db_;
};

// BEGIN ... ROLLBACK around a run of reads: one snapshot and one WAL read lock for all of
// them, where each statement alone is a transaction of its own (a WAL check, an fstat and
// lock calls each). Keep it short: the WAL cannot restart while a reader holds an old
// snapshot, so no slow work (argon2id) inside.
class ReadTransaction {
 public:
  static Result<ReadTransaction> begin(Database& db);
  // The same, unless the caller's transaction already gives the reads one snapshot: then
  // nothing is begun or ended here.
  static Result<ReadTransaction> begin_unless_in_one(Database& db);
  ReadTransaction(ReadTransaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  ReadTransaction(const ReadTransaction&) = delete;
  ~ReadTransaction();  // ends it: a read transaction has nothing to commit

 private:
  explicit ReadTransaction(Database* db) : db_(db) {}
  Database* db_;
};

}  // namespace postroom::store
