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
