// The outbound queue on PostgreSQL for `postroom queue list|show|retry|delete`: the rows and
// answers libs/store/src/queue.cpp gives on SQLite. Deleting a message cascades to its
// recipients and their history, and the schema's trigger releases its content.
#include <ctime>
#include <memory>

#include "pg_admin.hpp"

namespace postroom::cli::pg {

namespace {

constexpr const char* kRecipientColumns =
    "SELECT r.id, q.queue_id, r.recipient, r.state, r.attempts, r.next_attempt, r.last_reply"
    " FROM queue_recipients r JOIN queue q ON q.id = r.queue_row";

std::vector<store::QueuedRecipient> recipients(PGresult* res) {
  std::vector<store::QueuedRecipient> out;
  for (int i = 0; i < PQntuples(res); ++i)
    out.push_back({int64(res, i, 0), text(res, i, 1), text(res, i, 2), text(res, i, 3),
                   int64(res, i, 4), int64(res, i, 5), text(res, i, 6)});
  return out;
}

// The recipients still waiting and each one's attempts, oldest first.
Result<void> load_recipients(PGconn* conn, store::QueuedMessage& m) {
  auto r = pgschema::query(conn,
                           std::string(kRecipientColumns) +
                               " WHERE r.queue_row = $1 AND r.state IN ('queued', 'deferred')"
                               " ORDER BY r.id",
                           {{std::to_string(m.row)}});
  if (!r) return std::unexpected(r.error());
  m.recipients = recipients(r->get());
  for (const auto& recipient : m.recipients) {
    auto h = pgschema::query(conn,
                             "SELECT at, remote_host, reply FROM queue_history"
                             " WHERE recipient_row = $1 ORDER BY id",
                             {{std::to_string(recipient.row)}});
    if (!h) return std::unexpected(h.error());
    std::vector<store::QueueAttempt> attempts;
    for (int i = 0; i < PQntuples(h->get()); ++i)
      attempts.push_back({int64(h->get(), i, 0), text(h->get(), i, 1), text(h->get(), i, 2)});
    m.history.push_back(std::move(attempts));
  }
  return {};
}

}  // namespace

Result<std::vector<store::QueuedRecipient>> list_queue(PGconn* conn) {
  auto r = pgschema::query(conn, std::string(kRecipientColumns) +
                                     " WHERE r.state IN ('queued', 'deferred')"
                                     " ORDER BY r.next_attempt, r.id");
  if (!r) return std::unexpected(r.error());
  return recipients(r->get());
}

Result<std::optional<store::QueuedMessage>> find_queued(PGconn* conn, const std::string& queue_id) {
  // One snapshot: the message, its recipients and their history as of one instant while the
  // daemons go on delivering.
  auto tx = Transaction::begin(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!tx) return std::unexpected(tx.error());
  auto r = pgschema::query(conn,
                           "SELECT q.id, q.queue_id, q.content_id, q.sender, q.smtputf8,"
                           " q.body_8bit, q.created_at, c.size FROM queue q"
                           " JOIN contents c ON c.id = q.content_id WHERE q.queue_id = $1",
                           {{queue_id}});
  if (!r) return std::unexpected(r.error());
  if (PQntuples(r->get()) == 0) return std::optional<store::QueuedMessage>();
  PGresult* res = r->get();
  store::QueuedMessage m;
  m.row = int64(res, 0, 0);
  m.queue_id = text(res, 0, 1);
  m.content_id = int64(res, 0, 2);
  m.sender = text(res, 0, 3);
  m.smtputf8 = int64(res, 0, 4) != 0;
  m.body_8bit = int64(res, 0, 5) != 0;
  m.created_at = int64(res, 0, 6);
  m.size = static_cast<std::uint64_t>(int64(res, 0, 7));
  if (auto loaded = load_recipients(conn, m); !loaded) return std::unexpected(loaded.error());
  if (auto c = tx->commit(); !c) return std::unexpected(c.error());
  return std::optional<store::QueuedMessage>(std::move(m));
}

Result<std::optional<std::string>> read_chunk(PGconn* conn, std::int64_t content_id,
                                              std::int64_t seq) {
  auto r =
      pgschema::query(conn, "SELECT data FROM content_chunks WHERE content_id = $1 AND seq = $2",
                      {{std::to_string(content_id)}, {std::to_string(seq)}});
  if (!r) return std::unexpected(r.error());
  if (PQntuples(r->get()) == 0) return std::optional<std::string>();
  // bytea arrives as text ("\x" and hex digits): back to the stored bytes.
  std::size_t length = 0;
  std::unique_ptr<unsigned char, decltype(&PQfreemem)> bytes(
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r->get(), 0, 0)), &length),
      &PQfreemem);
  if (!bytes) return fail("out of memory reading a message");
  return std::optional<std::string>(std::string(reinterpret_cast<char*>(bytes.get()), length));
}

Result<int> retry_queue(PGconn* conn, const std::optional<std::string>& queue_id) {
  // Due now, as on SQLite, even where a daemon's lease holds next_attempt in the future while
  // it delivers: its lease renewal sees the change. One statement, one transaction.
  std::string now = std::to_string(std::time(nullptr));
  auto r = queue_id ? pgschema::query(conn,
                                      "UPDATE queue_recipients SET next_attempt = $1"
                                      " WHERE state IN ('queued', 'deferred') AND queue_row ="
                                      " (SELECT id FROM queue WHERE queue_id = $2)",
                                      {{now}, {*queue_id}})
                    : pgschema::query(conn,
                                      "UPDATE queue_recipients SET next_attempt = $1"
                                      " WHERE state IN ('queued', 'deferred')",
                                      {{now}});
  if (!r) return std::unexpected(r.error());
  return static_cast<int>(changed(r->get()));
}

Result<void> delete_queued(PGconn* conn, const std::string& queue_id) {
  auto r = pgschema::query(conn, "DELETE FROM queue WHERE queue_id = $1", {{queue_id}});
  if (!r) return std::unexpected(r.error());
  if (changed(r->get()) == 0) return fail("no queued message " + queue_id);
  return {};
}

}  // namespace postroom::cli::pg
