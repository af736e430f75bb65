// The SQLite connection wrapper: open with the durable pragmas, migrate, cache statements.
#include "postroom/store/database.hpp"

#include <sqlite3.h>

#include <system_error>

#include "postroom/store/migrations.hpp"

namespace postroom::store {

namespace {

Error sqlite_error(sqlite3* db, std::string_view what) {
  return Error{std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory")};
}

}  // namespace

void Statement::Deleter::operator()(sqlite3_stmt* s) const {
  sqlite3_finalize(s);
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  // Borrow the bytes: the caller keeps them alive until step() returns.
  sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  auto error = sqlite_error(db_, "database");
  sqlite3_reset(stmt_);
  return std::unexpected(error);
}

Result<void> Statement::run() {
  while (true) {
    auto row = step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
  }
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::string Statement::column_text(int index) const {
  auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  return text ? std::string(text, sqlite3_column_bytes(stmt_, index)) : std::string();
}

std::string_view Statement::column_blob(int index) const {
  auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, index));
  return data ? std::string_view(data, sqlite3_column_bytes(stmt_, index)) : std::string_view();
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Database::Closer::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}

Database::Database(sqlite3* db) : db_(db) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&& other) noexcept {
  cache_.clear();
  db_ = std::move(other.db_);
  cache_ = std::move(other.cache_);
  return *this;
}
Database::~Database() {
  cache_.clear();
}

Result<Database> Database::open(const std::filesystem::path& file, OpenOptions options) {
  if (options.create) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) return fail("cannot create " + file.parent_path().string() + ": " + ec.message());
  } else if (!std::filesystem::exists(file)) {
    return fail("database " + file.string() + " does not exist");
  }
  sqlite3* raw = nullptr;
  int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (options.create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(raw, "cannot open " + file.string()));
  // Another process (the admin tool, a backup) may hold the write lock briefly.
  sqlite3_busy_timeout(raw, 10000);
  // Acknowledge only what is on disk: WAL with a full fsync at every commit (design §3).
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    auto stmt = db.prepare(pragma);
    if (!stmt) return std::unexpected(stmt.error());
    if (auto r = stmt->run(); !r) return std::unexpected(r.error());
  }
  if (options.migrate) {
    if (auto r = migrate(db); !r) return std::unexpected(r.error());
  }
  return db;
}

Result<Statement> Database::prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return std::unexpected(sqlite_error(db_.get(), "prepare"));
    }
    it = cache_.emplace(std::string(sql), std::unique_ptr<sqlite3_stmt, Statement::Deleter>(raw))
             .first;
  }
  Statement statement(db_.get(), it->second.get());
  statement.reset();
  return statement;
}

void Database::release_memory() {
  sqlite3_db_release_memory(db_.get());
}

Result<void> Database::exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db_.get());
    sqlite3_free(message);
    return fail("database: " + text);
  }
  return {};
}

std::int64_t Database::last_insert_id() const {
  return sqlite3_last_insert_rowid(db_.get());
}
int Database::changes() const {
  return sqlite3_changes(db_.get());
}

Result<Transaction> Transaction::begin(Database& db) {
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
  return Transaction(db);
}

Transaction::~Transaction() {
  if (db_) (void)db_->exec("ROLLBACK");
}

Result<ReadTransaction> ReadTransaction::begin(Database& db) {
  if (auto r = db.exec("BEGIN"); !r) return std::unexpected(r.error());
  return ReadTransaction(db);
}

ReadTransaction::~ReadTransaction() {
  if (db_) (void)db_->exec("ROLLBACK");
}

Result<void> Transaction::commit() {
  auto r = db_->exec("COMMIT");
  if (!r) return r;  // The destructor rolls back what could not be committed.
  db_ = nullptr;
  return {};
}

}  // namespace postroom::store
