// postroom migrate-store --to postgresql: copies the SQLite store, every table, into an
// empty PostgreSQL database in one transaction, checks both sides row for row (a count and
// a SHA-256 of every table's rows in key order) and commits only when they agree.
#include <openssl/evp.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli.hpp"
#include "postroom/base/file.hpp"
#include "postroom/pgschema/connection.hpp"
#include "postroom/pgschema/migrations.hpp"
#include "postroom/store/export.hpp"
#include "postroom/system/daemon_status.hpp"

namespace postroom::cli {

namespace {

using pgschema::Param;

// A batch is sent when it reaches either bound: few round trips, bounded memory.
constexpr std::size_t kBatchRows = 500;
constexpr std::size_t kBatchBytes = 8 << 20;
constexpr std::size_t kProgressRows = 20000;
constexpr std::size_t kProgressBytes = 256 << 20;
// Rows read back per FETCH: few for tables with bytea (message chunks are up to 256 KiB).
constexpr int kFetchRows = 1000;
constexpr int kFetchBlobRows = 16;

std::string identifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// SHA-256 over a table's rows, each value framed (NULL apart, then length and bytes) so that
// both sides hash the same bytes for the same rows whatever the types' spellings.
class RowDigest {
 public:
  RowDigest() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void null() { EVP_DigestUpdate(ctx_.get(), "N", 1); }
  void value(std::string_view bytes) {
    std::string frame = "V" + std::to_string(bytes.size()) + ":";
    EVP_DigestUpdate(ctx_.get(), frame.data(), frame.size());
    EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
  }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &size);
    static const char* digits = "0123456789abcdef";
    std::string text;
    for (unsigned i = 0; i < size; ++i) {
      text += digits[out[i] >> 4];
      text += digits[out[i] & 15];
    }
    return text;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

std::string value_text(const store::Value& v) {
  if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&v)) return std::to_string(*d);
  if (auto s = std::get_if<std::string>(&v)) return *s;
  return std::get<store::Blob>(v).bytes;
}

// bytea in libpq's text output: \x and two hex digits per byte.
std::string bytea_bytes(std::string_view text) {
  std::string out;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 2; i + 1 < text.size(); i += 2)
    out += static_cast<char>(nibble(text[i]) << 4 | nibble(text[i + 1]));
  return out;
}

// What a PostgreSQL text value may hold: UTF-8 (RFC 3629: no overlong forms, surrogates or
// code points past U+10FFFF) without NUL. SQLite keeps any bytes, and a remote server's reply
// stored in the queue may carry anything; each offending byte becomes U+FFFD. Returns
// whether it changed anything.
bool make_pg_text(std::string& text) {
  std::string out;
  bool changed = false;
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 0;
    bool ok = len > 0 && c != 0 && i + len <= text.size();
    std::uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (std::size_t k = 1; ok && k < len; ++k) {
      auto d = static_cast<unsigned char>(text[i + k]);
      ok = (d & 0xc0) == 0x80;
      cp = cp << 6 | (d & 0x3f);
    }
    if (ok &&
        ((len == 2 && cp < 0x80) || (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
         (len == 4 && (cp < 0x10000 || cp > 0x10ffff))))
      ok = false;
    if (ok) {
      out.append(text, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
      changed = true;
    }
  }
  if (changed) text = std::move(out);
  return changed;
}

struct TableResult {
  std::size_t rows = 0;
  std::string digest;
};

class Migration {
 public:
  Migration(store::Database& db, PGconn* pg) : db_(db), pg_(pg) {}

  Result<void> run() {
    auto tables = store::list_tables(db_);
    if (!tables) return std::unexpected(tables.error());
    if (auto r = load_pg_types(*tables); !r) return r;
    if (auto r = refuse_non_empty(*tables); !r) return r;
    // One SQLite snapshot for the whole copy; one PostgreSQL transaction for all of it.
    auto snapshot = store::ReadTransaction::begin(db_);
    if (!snapshot) return std::unexpected(snapshot.error());
    if (auto r = pgschema::exec(pg_, "BEGIN"); !r) return r;
    auto copied = copy_all(*tables);
    if (!copied) {
      (void)pgschema::exec(pg_, "ROLLBACK");
      return copied;
    }
    if (auto r = pgschema::exec(pg_, "COMMIT"); !r)
      return fail("COMMIT failed, nothing was copied: " + r.error().message);
    return {};
  }

  const std::vector<std::pair<std::string, TableResult>>& summary() const { return summary_; }

 private:
  Result<void> load_pg_types(const std::vector<store::TableInfo>& tables) {
    auto r =
        pgschema::query(pg_,
                        "SELECT table_name, column_name, data_type, is_identity"
                        " FROM information_schema.columns WHERE table_schema = current_schema()");
    if (!r) return std::unexpected(r.error());
    for (int i = 0; i < PQntuples(r->get()); ++i) {
      std::string key = std::string(PQgetvalue(r->get(), i, 0)) + "." + PQgetvalue(r->get(), i, 1);
      types_[key] = PQgetvalue(r->get(), i, 2);
      if (std::string_view(PQgetvalue(r->get(), i, 3)) == "YES")
        identities_.emplace_back(PQgetvalue(r->get(), i, 0), PQgetvalue(r->get(), i, 1));
    }
    for (const auto& t : tables)
      for (const auto& c : t.columns)
        if (!types_.contains(t.name + "." + c))
          return fail("the PostgreSQL schema has no column " + t.name + "." + c +
                      ": this postroom's two schemas disagree (a bug)");
    return {};
  }

  Result<void> refuse_non_empty(const std::vector<store::TableInfo>& tables) {
    for (const auto& t : tables) {
      if (t.name == "schema_migrations") continue;
      auto r = pgschema::query(pg_, "SELECT EXISTS (SELECT 1 FROM " + identifier(t.name) + ")");
      if (!r) return std::unexpected(r.error());
      if (std::string_view(PQgetvalue(r->get(), 0, 0)) == "t")
        return fail("the PostgreSQL database is not empty (table " + t.name +
                    " has rows): migrate-store copies into an empty database only, so it never "
                    "mixes two stores; drop and create the database to start over");
    }
    return {};
  }

  Result<void> copy_all(const std::vector<store::TableInfo>& tables) {
    // The rows arrive as they are, with the counters the triggers would otherwise recount.
    for (const auto& t : tables) {
      if (t.name == "schema_migrations") continue;
      if (auto r =
              pgschema::exec(pg_, "ALTER TABLE " + identifier(t.name) + " DISABLE TRIGGER USER");
          !r)
        return r;
    }
    for (const auto& t : tables) {
      if (t.name == "schema_migrations") continue;
      auto copied = copy_table(t);
      if (!copied) return std::unexpected(copied.error());
      summary_.emplace_back(t.name, *copied);
    }
    for (const auto& t : tables) {
      if (t.name == "schema_migrations") continue;
      if (auto r =
              pgschema::exec(pg_, "ALTER TABLE " + identifier(t.name) + " ENABLE TRIGGER USER");
          !r)
        return r;
    }
    if (auto r = advance_sequences(); !r) return r;
    return verify(tables);
  }

  Result<TableResult> copy_table(const store::TableInfo& t) {
    TableResult result;
    RowDigest digest;
    std::vector<Param> params;
    std::size_t batch_rows = 0, batch_bytes = 0, total_bytes = 0, reported = 0, replaced = 0;
    std::vector<bool> binary;
    for (const auto& c : t.columns) binary.push_back(types_[t.name + "." + c] == "bytea");
    auto flush = [&]() -> Result<void> {
      if (batch_rows == 0) return {};
      std::string sql = "INSERT INTO " + identifier(t.name) + " (";
      for (std::size_t i = 0; i < t.columns.size(); ++i)
        sql += (i ? ", " : "") + identifier(t.columns[i]);
      sql += ") VALUES ";
      std::size_t n = 0;
      for (std::size_t r = 0; r < batch_rows; ++r) {
        sql += r ? ", (" : "(";
        for (std::size_t i = 0; i < t.columns.size(); ++i)
          sql += (i ? ", $" : "$") + std::to_string(++n);
        sql += ")";
      }
      auto done = pgschema::query(pg_, sql, params);
      if (!done) return fail("copying table " + t.name + ": " + done.error().message);
      params.clear();
      batch_rows = batch_bytes = 0;
      return {};
    };
    auto exported =
        store::export_table(db_, t, [&](const std::vector<store::Value>& row) -> Result<void> {
          for (std::size_t i = 0; i < row.size(); ++i) {
            if (std::holds_alternative<std::monostate>(row[i])) {
              digest.null();
              params.push_back(Param{std::nullopt, false});
              continue;
            }
            std::string text = value_text(row[i]);
            if (!binary[i] && make_pg_text(text)) ++replaced;
            digest.value(text);
            batch_bytes += text.size();
            total_bytes += text.size();
            params.push_back(Param{std::move(text), binary[i]});
          }
          ++batch_rows;
          ++result.rows;
          if (result.rows % kProgressRows == 0 || total_bytes - reported >= kProgressBytes) {
            std::cerr << "migrate-store: " << t.name << ": " << result.rows << " rows\n";
            reported = total_bytes;
          }
          if (batch_rows >= kBatchRows || batch_bytes >= kBatchBytes) return flush();
          return {};
        });
    if (!exported) return std::unexpected(exported.error());
    if (auto r = flush(); !r) return std::unexpected(r.error());
    std::cerr << "migrate-store: " << t.name << ": " << result.rows << " rows copied\n";
    if (replaced > 0)
      std::cerr << "migrate-store: " << t.name << ": " << replaced
                << " text value(s) held bytes PostgreSQL text cannot (not UTF-8, or NUL): "
                   "copied with U+FFFD in their place\n";
    result.digest = digest.hex();
    return result;
  }

  // Identity sequences past the largest id copied, and past SQLite's AUTOINCREMENT mark:
  // an id handed out once is never handed out again (schema 2).
  Result<void> advance_sequences() {
    auto marks = store::autoincrement_marks(db_);
    if (!marks) return std::unexpected(marks.error());
    for (const auto& [table, column] : identities_) {
      auto max = pgschema::query(
          pg_, "SELECT coalesce(max(" + identifier(column) + "), 0) FROM " + identifier(table));
      if (!max) return std::unexpected(max.error());
      std::int64_t next = std::stoll(PQgetvalue(max->get(), 0, 0));
      if (auto it = marks->find(table); it != marks->end()) next = std::max(next, it->second);
      if (next == 0) continue;
      auto set = pgschema::query(pg_, "SELECT setval(pg_get_serial_sequence($1, $2), $3)",
                                 {{identifier(table)}, {column}, {std::to_string(next)}});
      if (!set) return std::unexpected(set.error());
    }
    return {};
  }

  // Reads every copied table back in the same key order (text keys in byte order, as
  // SQLite's) and compares counts and digests; any difference rolls the whole copy back.
  Result<void> verify(const std::vector<store::TableInfo>& tables) {
    std::vector<std::string> differ;
    for (auto& [name, copied] : summary_) {
      const auto& t = *std::find_if(tables.begin(), tables.end(),
                                    [&](const store::TableInfo& x) { return x.name == name; });
      std::string sql = "DECLARE postroom_verify NO SCROLL CURSOR FOR SELECT ";
      for (std::size_t i = 0; i < t.columns.size(); ++i)
        sql += (i ? ", " : "") + identifier(t.columns[i]);
      sql += " FROM " + identifier(t.name);
      if (!t.primary_key.empty()) {
        sql += " ORDER BY ";
        for (std::size_t i = 0; i < t.primary_key.size(); ++i) {
          sql += (i ? ", " : "") + identifier(t.primary_key[i]);
          if (types_[t.name + "." + t.primary_key[i]] == "text") sql += " COLLATE \"C\"";
        }
      }
      if (auto r = pgschema::exec(pg_, sql); !r) return r;
      bool blobs = std::any_of(t.columns.begin(), t.columns.end(), [&](const std::string& c) {
        return types_[t.name + "." + c] == "bytea";
      });
      const std::string fetch =
          "FETCH " + std::to_string(blobs ? kFetchBlobRows : kFetchRows) + " FROM postroom_verify";
      RowDigest digest;
      std::size_t rows = 0;
      while (true) {
        auto batch = pgschema::query(pg_, fetch);
        if (!batch) return std::unexpected(batch.error());
        PGresult* res = batch->get();
        int n = PQntuples(res);
        if (n == 0) break;
        for (int r = 0; r < n; ++r, ++rows) {
          for (int c = 0; c < PQnfields(res); ++c) {
            if (PQgetisnull(res, r, c)) {
              digest.null();
              continue;
            }
            std::string_view text(PQgetvalue(res, r, c), PQgetlength(res, r, c));
            if (PQftype(res, c) == 17)  // BYTEAOID
              digest.value(bytea_bytes(text));
            else
              digest.value(text);
          }
        }
      }
      if (auto r = pgschema::exec(pg_, "CLOSE postroom_verify"); !r) return r;
      if (rows != copied.rows || digest.hex() != copied.digest)
        differ.push_back(name + " (SQLite " + std::to_string(copied.rows) + " rows, PostgreSQL " +
                         std::to_string(rows) +
                         (rows == copied.rows ? " with other contents)" : ")"));
    }
    if (!differ.empty()) {
      std::string list;
      for (const auto& d : differ) list += (list.empty() ? "" : ", ") + d;
      return fail("verification failed, nothing was committed: " + list);
    }
    return {};
  }

  store::Database& db_;
  PGconn* pg_;
  std::map<std::string, std::string> types_;  // "table.column" -> PostgreSQL data_type
  std::vector<std::pair<std::string, std::string>> identities_;
  std::vector<std::pair<std::string, TableResult>> summary_;
};

// The pid of a postroomd serving this data_dir, if one runs: mail it accepts after the
// snapshot would never reach PostgreSQL.
std::optional<int> running_daemon(const config::Config& config) {
  auto text = read_small_file(config.data_dir / system::kStatusFileName, 1 << 20);
  if (!text) return std::nullopt;
  auto status = system::parse_status(*text);
  if (!status || !system::is_postroomd(status->pid)) return std::nullopt;
  return static_cast<int>(status->pid);
}

}  // namespace

int migrate_store_command(Context& ctx) {
  auto to = ctx.args.values.find("--to");
  if (!ctx.args.words.empty() || to == ctx.args.values.end())
    return usage_error("usage: postroom migrate-store --to postgresql");
  if (to->second != "postgresql")
    return usage_error("migrate-store: --to takes postgresql (the only other store)");
  if (!ctx.config.store.postgresql)
    return failure(
        "migrate-store: the config has no store.postgresql section: add one (dsn, or "
        "host and the rest) naming an empty database, then run this again");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(ctx.config.database_path(), ec))
    return failure("migrate-store: there is no SQLite store at " +
                   ctx.config.database_path().string() + " to copy");
  if (auto pid = running_daemon(ctx.config))
    return failure("migrate-store: postroomd (pid " + std::to_string(*pid) +
                   ") is running: stop it first, or the mail it takes after the copy would "
                   "stay behind in SQLite");
  auto db = store::Database::open(ctx.config.database_path(), {.create = false});
  if (!db) return failure("migrate-store: " + db.error().message);
  auto params = ctx.config.store.postgresql->connection_params();
  if (!params) return failure("migrate-store: " + params.error().message);
  auto pg = pgschema::connect(*params);
  if (!pg) return failure("migrate-store: " + pg.error().message);
  auto applied = pgschema::migrate(pg->get());
  if (!applied) return failure("migrate-store: " + applied.error().message);
  std::cerr << "migrate-store: PostgreSQL schema: " << *applied << " migration(s) applied\n";

  Migration migration(*db, pg->get());
  if (auto r = migration.run(); !r) return failure("migrate-store: " + r.error().message);
  std::size_t total = 0;
  for (const auto& [table, result] : migration.summary()) {
    std::cout << table << "\t" << result.rows << "\t" << result.digest << "\n";
    total += result.rows;
  }
  std::cout << "copied and verified " << migration.summary().size() << " tables, " << total
            << " rows; now set store.backend: postgresql and start postroomd\n";
  return kOk;
}

}  // namespace postroom::cli
