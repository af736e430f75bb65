// The heartbeat row (schema 0008) and the queue figures /healthz and /metrics show.
#include "postroom/store/health.hpp"

#include <sys/statvfs.h>

namespace postroom::store {

Result<StoreHealth> heartbeat(Database& db, std::int64_t now) {
  auto beat = db.prepare("INSERT OR REPLACE INTO heartbeat(id, at) VALUES (1, ?)");
  if (!beat) return std::unexpected(beat.error());
  beat->bind(1, now);
  if (auto r = beat->run(); !r) return std::unexpected(r.error());
  auto queue = db.prepare(
      "SELECT count(*), min(q.created_at) FROM queue_recipients r JOIN queue q ON q.id = "
      "r.queue_row WHERE r.state IN ('queued', 'deferred')");
  if (!queue) return std::unexpected(queue.error());
  auto row = queue->step();
  if (!row) return std::unexpected(row.error());
  StoreHealth health;
  if (*row) {
    health.queued_recipients = queue->column_int(0);
    if (!queue->column_is_null(1)) health.oldest_queued_at = queue->column_int(1);
  }
  // A small heartbeat can still fit in a full disk's WAL while a message cannot: the free
  // space tells the caller what the next message will meet.
  struct statvfs fs {};
  if (::statvfs(db.path().parent_path().c_str(), &fs) == 0)
    health.disk_free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  return health;
}

}  // namespace postroom::store

namespace postroom::store {

Result<QueueOverview> queue_overview(Database& db, int failures) {
  QueueOverview out;
  auto counts = db.prepare(
      "SELECT count(*), count(DISTINCT queue_row), coalesce(sum(state = 'deferred'), 0)"
      " FROM queue_recipients WHERE state IN ('queued', 'deferred')");
  if (!counts) return std::unexpected(counts.error());
  auto row = counts->step();
  if (!row) return std::unexpected(row.error());
  if (*row) {
    out.waiting_recipients = counts->column_int(0);
    out.waiting_messages = counts->column_int(1);
    out.deferred_recipients = counts->column_int(2);
  }
  auto oldest = db.prepare(
      "SELECT q.queue_id, r.recipient, q.created_at, r.attempts, r.next_attempt, r.last_reply"
      " FROM queue_recipients r JOIN queue q ON q.id = r.queue_row WHERE r.state = 'deferred'"
      " ORDER BY q.created_at, q.id, r.id LIMIT 1");
  if (!oldest) return std::unexpected(oldest.error());
  row = oldest->step();
  if (!row) return std::unexpected(row.error());
  if (*row)
    out.oldest_deferred = QueueOverview::Deferred{oldest->column_text(0), oldest->column_text(1),
                                                  oldest->column_int(2),  oldest->column_int(3),
                                                  oldest->column_int(4),  oldest->column_text(5)};
  // A reply that is not 2xx (or an empty one: no connection at all) is a failure.
  auto history = db.prepare(
      "SELECT h.at, q.queue_id, r.recipient, r.state, h.remote_host, h.reply"
      " FROM queue_history h JOIN queue_recipients r ON r.id = h.recipient_row"
      " JOIN queue q ON q.id = r.queue_row WHERE h.reply NOT LIKE '2%'"
      " ORDER BY h.id DESC LIMIT ?");
  if (!history) return std::unexpected(history.error());
  history->bind(1, static_cast<std::int64_t>(failures));
  while (true) {
    row = history->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.recent_failures.push_back({history->column_int(0), history->column_text(1),
                                   history->column_text(2), history->column_text(3),
                                   history->column_text(4), history->column_text(5)});
  }
  return out;
}

}  // namespace postroom::store
