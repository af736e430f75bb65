// The outbound limit counters as rows, and the postmaster's notice as a stored message.
#include "postroom/store/outbound_counts.hpp"

#include "postroom/base/address.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/postmaster.hpp"
#include "sql_try.hpp"

namespace postroom::store {

namespace {

constexpr std::int64_t kDaySeconds = 86400;

// Runs `sql` with `since` bound to its one parameter and hands each row to `row`.
template <typename Row>
Result<void> each_row(Database& db, const char* sql, std::int64_t since, Row row) {
  TRY_STMT(s, db, sql);
  s->bind(1, since);
  while (true) {
    auto more = s->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
    row(*s);
  }
}

// Runs `sql` once per item, `bind` filling its parameters.
template <typename Item, typename Bind>
Result<void> run_each(Database& db, const char* sql, const std::vector<Item>& items, Bind bind) {
  TRY_STMT(s, db, sql);
  for (const auto& item : items) {
    bind(*s, item);
    TRY(s->run());
  }
  return {};
}

Result<void> run_with(Database& db, const char* sql, std::int64_t value) {
  return run_each(db, sql, std::vector<std::int64_t>{value},
                  [](auto& s, std::int64_t v) { s.bind(1, v); });
}

}  // namespace

Result<OutboundCounts> load_outbound_counts(Database& db, std::int64_t since,
                                            std::int64_t bucket_seconds) {
  OutboundCounts out;
  TRY(each_row(db, "SELECT subject, bucket, messages FROM outbound_counts WHERE bucket >= ?",
               since / bucket_seconds, [&](auto& s) {
                 out.buckets.push_back({s.column_text(0), s.column_int(1), s.column_int(2)});
               }));
  TRY(each_row(db,
               "SELECT subject, recipient, first_seen FROM outbound_recipients "
               "WHERE first_seen >= ?",
               since, [&](auto& s) {
                 out.recipients.push_back({s.column_text(0), s.column_text(1), s.column_int(2)});
               }));
  TRY(each_row(db, "SELECT subject, day FROM outbound_notices WHERE day >= ?", since / kDaySeconds,
               [&](auto& s) {
                 out.notices.push_back({s.column_text(0), s.column_int(1)});
               }));
  return out;
}

Result<void> save_outbound_counts(Database& db, const OutboundCounts& changes,
                                  std::int64_t prune_before, std::int64_t bucket_seconds) {
  TRY(run_each(db,
               "INSERT INTO outbound_counts(subject, bucket, messages) VALUES (?, ?, ?) "
               "ON CONFLICT(subject, bucket) DO UPDATE SET messages = excluded.messages",
               changes.buckets, [](auto& s, const auto& b) {
                 s.bind(1, b.subject).bind(2, b.bucket).bind(3, b.messages);
               }));
  TRY(run_each(db,
               "INSERT INTO outbound_recipients(subject, recipient, first_seen) VALUES (?, ?, ?) "
               "ON CONFLICT(subject, recipient) DO UPDATE SET first_seen = excluded.first_seen",
               changes.recipients, [](auto& s, const auto& r) {
                 s.bind(1, r.subject).bind(2, r.recipient).bind(3, r.first_seen);
               }));
  TRY(run_each(db,
               "INSERT INTO outbound_notices(subject, day) VALUES (?, ?) "
               "ON CONFLICT(subject) DO UPDATE SET day = excluded.day",
               changes.notices,
               [](auto& s, const auto& n) { s.bind(1, n.subject).bind(2, n.day); }));
  TRY(run_with(db, "DELETE FROM outbound_counts WHERE bucket < ?", prune_before / bucket_seconds));
  TRY(run_with(db, "DELETE FROM outbound_recipients WHERE first_seen < ?", prune_before));
  TRY(run_with(db, "DELETE FROM outbound_notices WHERE day < ?", prune_before / kDaySeconds));
  return {};
}

Result<bool> deliver_to_postmaster(Database& db, const std::string& message,
                                   const std::vector<std::string>& local_domains) {
  auto route = resolve_with_postmaster(db, Address{"postmaster", ""}, local_domains);
  if (!route) return std::unexpected(route.error());
  if (route->accounts.empty() && route->remote.empty()) return false;
  auto stored = store_from_null_sender(db, message, null_sender_destination(*route));
  if (!stored) return std::unexpected(stored.error());
  return true;
}

}  // namespace postroom::store
