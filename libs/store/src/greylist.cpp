// Greylisting triplets in SQLite (schema 0006), decided and recorded in one write job.
#include "postroom/store/greylist.hpp"
#include "sql_try.hpp"

#include <optional>

namespace postroom::store {

Result<bool> greylist_check(Database& db, const GreylistTriplet& t, std::int64_t now,
                            std::int64_t window, std::int64_t forget) {
  if (!t.sender_domain.empty()) {
    TRY_STMT(known, db, "SELECT 1 FROM greylist_passed WHERE network = ? AND sender_domain = ?");
    known->bind(1, t.network).bind(2, t.sender_domain);
    auto row = known->step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      TRY_STMT(renew, db,
               "UPDATE greylist_passed SET passed = ? WHERE network = ? AND sender_domain = ?");
      renew->bind(1, now).bind(2, t.network).bind(3, t.sender_domain);
      TRY(renew->run());
      return true;
    }
  }
  std::optional<std::int64_t> first_seen;
  bool passed = false;
  {
    TRY_STMT(find, db,
             "SELECT first_seen, passed FROM greylist WHERE network = ? AND sender = ? AND "
             "recipient = ?");
    find->bind(1, t.network).bind(2, t.sender).bind(3, t.recipient);
    auto row = find->step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      first_seen = find->column_int(0);
      passed = !find->column_is_null(1);
    }
  }
  if (passed) {
    TRY_STMT(renew, db,
             "UPDATE greylist SET passed = ? WHERE network = ? AND sender = ? AND recipient = ?");
    renew->bind(1, now).bind(2, t.network).bind(3, t.sender).bind(4, t.recipient);
    TRY(renew->run());
    return true;
  }
  if (first_seen && now - *first_seen >= window && now - *first_seen <= forget) {
    TRY_STMT(mark, db,
             "UPDATE greylist SET passed = ? WHERE network = ? AND sender = ? AND recipient = ?");
    mark->bind(1, now).bind(2, t.network).bind(3, t.sender).bind(4, t.recipient);
    if (auto r = mark->run(); !r) return std::unexpected(r.error());
    if (!t.sender_domain.empty()) {
      TRY_STMT(allow, db,
               "INSERT OR REPLACE INTO greylist_passed(network, sender_domain, passed) "
               "VALUES (?, ?, ?)");
      allow->bind(1, t.network).bind(2, t.sender_domain).bind(3, now);
      if (auto r = allow->run(); !r) return std::unexpected(r.error());
    }
    return true;
  }
  if (!first_seen || now - *first_seen > forget) {
    TRY_STMT(record, db,
             "INSERT OR REPLACE INTO greylist(network, sender, recipient, first_seen, passed) "
             "VALUES (?, ?, ?, ?, NULL)");
    record->bind(1, t.network).bind(2, t.sender).bind(3, t.recipient).bind(4, now);
    if (auto r = record->run(); !r) return std::unexpected(r.error());
  }
  return false;
}

Result<int> greylist_purge(Database& db, std::int64_t unretried_before,
                           std::int64_t passed_before) {
  int removed = 0;
  const std::pair<const char*, std::int64_t> deletions[] = {
      {"DELETE FROM greylist WHERE passed IS NULL AND first_seen < ?", unretried_before},
      {"DELETE FROM greylist WHERE passed IS NOT NULL AND passed < ?", passed_before},
      {"DELETE FROM greylist_passed WHERE passed < ?", passed_before},
  };
  for (const auto& [sql, before] : deletions) {
    TRY_STMT(s, db, sql);
    s->bind(1, before);
    TRY(s->run());
    removed += db.changes();
  }
  return removed;
}

}  // namespace postroom::store
