// The SQLite connection wrapper: open with the durable pragmas, migrate, cache statements.
#include "postroom/store/database.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>

#include <system_error>

#include "postroom/store/migrations.hpp"

namespace postroom::store {

namespace {

Error sqlite_error(sqlite3* db, std::string_view what) {
  return Error{
      std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"),
      db && sqlite3_errcode(db) == SQLITE_FULL ? Error::Kind::disk_full : Error::Kind::other};
}

// An empty file is not a fresh store: something truncated it. Checked with stat only:
// opening the file here and closing it would drop every POSIX lock this process holds on
// it, the daemon's other connections' included (fcntl locks are per process and file).
Result<void> check_not_empty(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return fail("cannot read " + file.string() + ": " + ec.message());
  if (size == 0)
    return fail(file.string() +
                " is empty (0 bytes): refusing to treat it as a new store; restore a backup, or "
                "remove the file to start with an empty store");
  return {};
}

std::uint64_t big_endian(const unsigned char* p, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  return value;
}

// The file's own header, read before SQLite opens it: a file without SQLite's header is
// not ours, and one shorter than its header says lost its tail (judged only while no
// WAL holds newer pages). Only for the first connection of a process (see check_not_empty
// on why a process must not open and close the file beside SQLite's connections).
Result<void> check_header(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return fail("cannot read " + file.string() + ": " + ec.message());
  unsigned char header[100] = {};
  {
    std::ifstream in(file, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(header), sizeof header) ||
        std::string_view(reinterpret_cast<const char*>(header), 16) !=
            std::string_view("SQLite format 3\0", 16))
      return fail(file.string() + " is not a postroom database (no SQLite header)");
  }
  std::uint64_t page_size = big_endian(&header[16], 2);
  if (page_size == 1) page_size = 65536;
  std::uint64_t pages = big_endian(&header[28], 4);
  bool pages_valid = big_endian(&header[24], 4) == big_endian(&header[92], 4);
  auto wal_size = std::filesystem::file_size(file.string() + "-wal", ec);
  bool wal_holds_pages = !ec && wal_size > 32;
  if (pages_valid && !wal_holds_pages && pages * page_size > size)
    return fail(file.string() + " is truncated: " + std::to_string(size) +
                " bytes where its header says " + std::to_string(pages * page_size) +
                "; restore a backup");
  return {};
}

// A bounded look at a store opened for service: every table but the message bodies is
// checked (their size grows with the number of messages, not with their bytes), and the
// bodies' first and last rows are read, which a truncated or damaged file rarely survives.
// The whole check is `postroom verify`.
Result<void> check_structure(Database& db) {
  std::vector<std::string> tables;
  {
    auto list = db.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
    if (!list) return std::unexpected(list.error());
    while (true) {
      auto row = list->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      tables.push_back(list->column_text(0));
    }
  }
  for (const auto& table : tables) {
    if (table == "content_chunks") continue;
    // A table name cannot be bound; these come from the schema itself.
    auto check = db.prepare("PRAGMA quick_check(\"" + table + "\")");
    if (!check) return std::unexpected(check.error());
    auto row = check->step();
    if (!row) return std::unexpected(row.error());
    if (*row && check->column_text(0) != "ok")
      return fail("table " + table + ": " + check->column_text(0));
  }
  for (const char* probe : {"SELECT min(id), max(id) FROM content_chunks",
                            "SELECT length(data) FROM content_chunks WHERE id = (SELECT max(id) "
                            "FROM content_chunks)"}) {
    auto s = db.prepare(probe);
    if (!s) return std::unexpected(s.error());
    if (auto row = s->step(); !row) return std::unexpected(row.error());
  }
  return {};
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

Statement::ColumnType Statement::column_type(int index) const {
  switch (sqlite3_column_type(stmt_, index)) {
    case SQLITE_NULL:
      return ColumnType::null;
    case SQLITE_INTEGER:
      return ColumnType::integer;
    case SQLITE_FLOAT:
      return ColumnType::real;
    case SQLITE_TEXT:
      return ColumnType::text;
    default:
      return ColumnType::blob;
  }
}

double Statement::column_double(int index) const {
  return sqlite3_column_double(stmt_, index);
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
  path_ = std::move(other.path_);
  device_ = other.device_;
  inode_ = other.inode_;
  return *this;
}
Database::~Database() {
  cache_.clear();
}

Result<Database> Database::open(const std::filesystem::path& file, OpenOptions options) {
  std::error_code ec;
  bool exists = std::filesystem::exists(file, ec);
  if (ec) return fail("cannot read " + file.string() + ": " + ec.message());
  if (exists) {
    if (auto r = check_not_empty(file); !r) return std::unexpected(r.error());
    if (options.check) {
      if (auto r = check_header(file); !r) return std::unexpected(r.error());
    }
  } else if (!options.create) {
    return fail("database " + file.string() + " does not exist");
  } else {
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) return fail("cannot create " + file.parent_path().string() + ": " + ec.message());
  }
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (exists ? 0 : SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(raw, "cannot open " + file.string()));
  db.path_ = file;
  // Another process (the admin tool, a backup) may hold the write lock briefly.
  sqlite3_busy_timeout(raw, 10000);
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    db.device_ = st.st_dev;
    db.inode_ = st.st_ino;
  }
  // Acknowledge only what is on disk: WAL with a full fsync at every commit (design §3).
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
        // Deleting mail must work on a full disk: zeroing every freed page (Debian builds
        // SQLite with secure_delete on) would write as much as was deleted. FAST zeroes
        // what is written anyway.
        "PRAGMA secure_delete=FAST",
        // A WAL left large by a burst is cut back after checkpoints, but not below what a
        // deletion needs when the disk is full.
        "PRAGMA journal_size_limit=67108864"}) {
    auto stmt = db.prepare(pragma);
    if (!stmt) return fail("cannot open " + file.string() + ": " + stmt.error().message);
    if (auto r = stmt->run(); !r)
      return fail("cannot open " + file.string() + ": " + r.error().message);
  }
  if (exists && options.check) {
    if (auto r = check_structure(db); !r)
      return fail(file.string() + " is damaged (" + r.error().message +
                  "): restore a backup, or see `postroom verify`");
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
  if (int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message); rc != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db_.get());
    sqlite3_free(message);
    return std::unexpected(Error{"database: " + text, (rc & 0xff) == SQLITE_FULL
                                                          ? Error::Kind::disk_full
                                                          : Error::Kind::other});
  }
  return {};
}

Result<void> Database::run(std::string_view sql) {
  auto statement = prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  return statement->run();
}

std::int64_t Database::last_insert_id() const {
  return sqlite3_last_insert_rowid(db_.get());
}
int Database::changes() const {
  return sqlite3_changes(db_.get());
}

bool Database::in_transaction() const {
  return sqlite3_get_autocommit(db_.get()) == 0;
}

bool Database::last_error_was_full() const {
  return sqlite3_errcode(db_.get()) == SQLITE_FULL;
}

Result<void> Database::still_same_file() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    return fail("the database file " + path_.string() +
                " was removed while in use: nothing is acknowledged until postroomd restarts");
  if (st.st_dev != device_ || st.st_ino != inode_)
    return fail("the database file " + path_.string() +
                " was replaced while in use: nothing is acknowledged until postroomd restarts");
  return {};
}

Result<Transaction> Transaction::begin(Database& db) {
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
  return Transaction(db);
}

Transaction::~Transaction() {
  if (db_) (void)db_->run("ROLLBACK");
}

Result<ReadTransaction> ReadTransaction::begin(Database& db) {
  if (auto r = db.run("BEGIN"); !r) return std::unexpected(r.error());
  return ReadTransaction(&db);
}

Result<ReadTransaction> ReadTransaction::begin_unless_in_one(Database& db) {
  if (db.in_transaction()) return ReadTransaction(nullptr);
  return begin(db);
}

ReadTransaction::~ReadTransaction() {
  if (db_) (void)db_->run("ROLLBACK");
}

Result<void> Transaction::commit() {
  auto r = db_->exec("COMMIT");
  if (!r) return r;  // The destructor rolls back what could not be committed.
  db_ = nullptr;
  return {};
}

}  // namespace postroom::store
