// The whole-store check behind `postroom verify`.
#include "postroom/store/verify.hpp"

#include <string>

#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"
#include "sql_try.hpp"

namespace postroom::store {

namespace {

Result<std::int64_t> count(Database& db, const char* sql) {
  TRY_STMT(s, db, sql);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  return s->column_int(0);
}

// Each query lists ids that break one rule; `what` names the rule.
Result<void> list_violations(Database& db, const char* sql, const std::string& what,
                             VerifyReport& report) {
  TRY_STMT(s, db, sql);
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    report.problems.push_back(what + " " + s->column_text(0));
  }
}

Result<void> check_chunks(Database& db, VerifyReport& report) {
  TRY_STMT(s, db,
           "SELECT c.id, c.size, c.chunks, count(k.id), coalesce(sum(length(k.data)), 0),"
           " coalesce(min(k.seq), 0), coalesce(max(k.seq), -1)"
           " FROM contents c LEFT JOIN content_chunks k ON k.content_id = c.id"
           " WHERE c.complete = 1 GROUP BY c.id");
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    std::int64_t id = s->column_int(0), size = s->column_int(1), chunks = s->column_int(2);
    std::int64_t stored = s->column_int(3), bytes = s->column_int(4);
    std::int64_t first = s->column_int(5), last = s->column_int(6);
    if (stored != chunks || first != 0 || last != chunks - 1)
      report.problems.push_back("message content " + std::to_string(id) + ": " +
                                std::to_string(stored) + " chunk(s) numbered " +
                                std::to_string(first) + ".." + std::to_string(last) +
                                ", sealed with " + std::to_string(chunks));
    if (bytes != size)
      report.problems.push_back("message content " + std::to_string(id) + ": " +
                                std::to_string(bytes) + " octets stored, sealed with " +
                                std::to_string(size));
  }
}

// Reads every committed content through and compares the POP3 size RETR would send.
Result<void> check_pop3_sizes(Database& db, VerifyReport& report) {
  TRY_STMT(s, db,
           "SELECT c.id, c.pop3_size, k.data FROM contents c JOIN content_chunks k"
           " ON k.content_id = c.id WHERE c.complete = 1 ORDER BY c.id, k.seq");
  std::int64_t current = 0, expected = 0;
  SizeCounter sizes;
  auto finish = [&] {
    if (current != 0 && static_cast<std::int64_t>(sizes.pop3_size()) != expected)
      report.problems.push_back("message content " + std::to_string(current) + ": POP3 size " +
                                std::to_string(sizes.pop3_size()) + ", recorded " +
                                std::to_string(expected));
  };
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    std::int64_t id = s->column_int(0);
    if (id != current) {
      finish();
      current = id;
      expected = s->column_int(1);
      sizes = {};
    }
    sizes.add(s->column_blob(2));
  }
  finish();
  return {};
}

}  // namespace

Result<VerifyReport> verify_store(Database& db) {
  VerifyReport report;
  {
    TRY_STMT(s, db, "PRAGMA integrity_check");
    while (true) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      if (auto line = s->column_text(0); line != "ok") report.problems.push_back(line);
    }
  }
  // A damaged file makes the content checks meaningless (and may make them fail).
  if (!report.problems.empty()) return report;
  auto snapshot = ReadTransaction::begin(db);
  if (!snapshot) return std::unexpected(snapshot.error());
  for (auto [field, sql] :
       {std::pair{&report.contents, "SELECT count(*) FROM contents WHERE complete = 1"},
        std::pair{&report.open_contents, "SELECT count(*) FROM contents WHERE complete = 0"},
        std::pair{&report.deliveries, "SELECT count(*) FROM deliveries"},
        std::pair{&report.queued, "SELECT count(*) FROM queue"}}) {
    auto n = count(db, sql);
    if (!n) return std::unexpected(n.error());
    *field = *n;
  }
  struct Rule {
    const char* sql;
    const char* what;
  };
  for (const Rule& rule : {
           Rule{"SELECT d.id FROM deliveries d LEFT JOIN contents c ON c.id = d.content_id"
                " WHERE c.id IS NULL OR c.complete = 0",
                "delivery pointing at a missing or unfinished content:"},
           Rule{"SELECT q.queue_id FROM queue q LEFT JOIN contents c ON c.id = q.content_id"
                " WHERE c.id IS NULL OR c.complete = 0",
                "queued message pointing at a missing or unfinished content:"},
           Rule{"SELECT c.id FROM contents c WHERE c.complete = 1"
                " AND NOT EXISTS (SELECT 1 FROM deliveries WHERE content_id = c.id)"
                " AND NOT EXISTS (SELECT 1 FROM queue WHERE content_id = c.id)",
                "message content nothing points at:"},
           Rule{"SELECT DISTINCT k.content_id FROM content_chunks k"
                " LEFT JOIN contents c ON c.id = k.content_id WHERE c.id IS NULL",
                "chunks without a content:"},
           Rule{"SELECT d.id FROM deliveries d LEFT JOIN accounts a ON a.id = d.account_id"
                " WHERE a.id IS NULL",
                "delivery to a missing mailbox:"},
           Rule{"SELECT a.address FROM accounts a LEFT JOIN mailbox_usage u ON u.account_id = a.id"
                " WHERE u.account_id IS NULL OR u.messages !="
                " (SELECT count(*) FROM deliveries WHERE account_id = a.id) OR u.bytes !="
                " (SELECT coalesce(sum(c.pop3_size), 0) FROM deliveries d"
                "  JOIN contents c ON c.id = d.content_id WHERE d.account_id = a.id)",
                "mailbox whose quota usage counter disagrees with its messages:"},
       }) {
    if (auto r = list_violations(db, rule.sql, rule.what, report); !r)
      return std::unexpected(r.error());
  }
  if (auto r = check_chunks(db, report); !r) return std::unexpected(r.error());
  if (auto r = check_pop3_sizes(db, report); !r) return std::unexpected(r.error());
  return report;
}

}  // namespace postroom::store
