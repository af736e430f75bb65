// What `postroom status` reads from PostgreSQL: the queue's summary (as
// libs/store/src/health.cpp's queue_overview on SQLite) and the database's size.
#include "pg_admin.hpp"

namespace postroom::cli::pg {

Result<store::QueueOverview> queue_overview(PGconn* conn, int failures) {
  // One snapshot: the counts, the oldest deferred and the failures agree with each other.
  auto tx = Transaction::begin(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!tx) return std::unexpected(tx.error());
  store::QueueOverview out;
  auto counts = pgschema::query(conn,
                                "SELECT count(*), count(DISTINCT queue_row),"
                                " count(*) FILTER (WHERE state = 'deferred') FROM queue_recipients"
                                " WHERE state IN ('queued', 'deferred')");
  if (!counts) return std::unexpected(counts.error());
  out.waiting_recipients = int64(counts->get(), 0, 0);
  out.waiting_messages = int64(counts->get(), 0, 1);
  out.deferred_recipients = int64(counts->get(), 0, 2);
  auto oldest = pgschema::query(
      conn,
      "SELECT q.queue_id, r.recipient, q.created_at, r.attempts, r.next_attempt, r.last_reply"
      " FROM queue_recipients r JOIN queue q ON q.id = r.queue_row WHERE r.state = 'deferred'"
      " ORDER BY q.created_at, q.id, r.id LIMIT 1");
  if (!oldest) return std::unexpected(oldest.error());
  if (PGresult* o = oldest->get(); PQntuples(o) > 0)
    out.oldest_deferred =
        store::QueueOverview::Deferred{text(o, 0, 0),  text(o, 0, 1),  int64(o, 0, 2),
                                       int64(o, 0, 3), int64(o, 0, 4), text(o, 0, 5)};
  // A reply that is not 2xx (or an empty one: no connection at all) is a failure.
  auto history =
      pgschema::query(conn,
                      "SELECT h.at, q.queue_id, r.recipient, r.state, h.remote_host, h.reply"
                      " FROM queue_history h JOIN queue_recipients r ON r.id = h.recipient_row"
                      " JOIN queue q ON q.id = r.queue_row WHERE h.reply NOT LIKE '2%'"
                      " ORDER BY h.id DESC LIMIT $1",
                      {{std::to_string(failures)}});
  if (!history) return std::unexpected(history.error());
  PGresult* h = history->get();
  for (int i = 0; i < PQntuples(h); ++i)
    out.recent_failures.push_back({int64(h, i, 0), text(h, i, 1), text(h, i, 2), text(h, i, 3),
                                   text(h, i, 4), text(h, i, 5)});
  if (auto c = tx->commit(); !c) return std::unexpected(c.error());
  return out;
}

Result<std::pair<std::string, std::uint64_t>> database_size(PGconn* conn) {
  auto r = pgschema::query(conn, "SELECT current_database(), pg_database_size(current_database())");
  if (!r) return std::unexpected(r.error());
  return std::pair{text(r->get(), 0, 0), static_cast<std::uint64_t>(int64(r->get(), 0, 1))};
}

}  // namespace postroom::cli::pg
