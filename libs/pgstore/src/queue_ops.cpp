// The outbound queue: claiming due recipients under a lease so that several daemons never
// deliver one message twice, reading its chunks, and recording each attempt.
#include "bounce_steps.hpp"
#include "message_steps.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

// Queue rows with a recipient due, skipping those another runner is claiming right now.
constexpr Statement kDueRows{
    "due_rows",
    "SELECT q.id FROM queue q WHERE EXISTS (SELECT 1 FROM queue_recipients r"
    " WHERE r.queue_row = q.id AND r.state IN ('queued', 'deferred') AND r.next_attempt <= $1)"
    " ORDER BY q.id LIMIT $2 FOR UPDATE SKIP LOCKED"};
// The lease: the claimed recipients are not due again before $2 (record_attempt sets their
// real next attempt). Under READ COMMITTED a row another runner leased meanwhile is
// re-checked and no longer matches, so each recipient goes to one runner only.
constexpr Statement kLease{
    "lease_recipients",
    "UPDATE queue_recipients SET next_attempt = $2 WHERE queue_row = ANY($3::int8[])"
    " AND state IN ('queued', 'deferred') AND next_attempt <= $1"
    " RETURNING id, queue_row, recipient, state, attempts, next_attempt, last_reply"};
constexpr Statement kMessages{
    "queued_messages",
    "SELECT q.id, q.queue_id, q.content_id, q.sender, q.smtputf8, q.body_8bit, q.created_at,"
    " c.size FROM queue q JOIN contents c ON c.id = q.content_id WHERE q.id = ANY($1::int8[])"
    " ORDER BY q.id"};
constexpr Statement kReadChunk{
    "read_chunk", "SELECT data FROM content_chunks WHERE content_id = $1 AND seq = $2"};
constexpr Statement kAttempt{
    "record_attempt",
    "UPDATE queue_recipients SET state = $1, attempts = attempts + 1, next_attempt = $2,"
    " last_reply = $3 WHERE id = $4"};
constexpr Statement kHistory{
    "queue_history",
    "INSERT INTO queue_history (recipient_row, at, remote_host, reply) VALUES ($1, $2, $3, $4)"};
constexpr Statement kDoneMessage{
    "queue_done",
    "DELETE FROM queue WHERE id = (SELECT queue_row FROM queue_recipients WHERE id = $1)"
    " AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE queue_row = queue.id"
    " AND state IN ('queued', 'deferred'))"};

}  // namespace

void PgMailStore::due_messages(std::int64_t now, int limit,
                               Reply<std::vector<QueuedMessage>> done) {
  auto out = std::make_shared<std::vector<QueuedMessage>>();
  auto lease_until = now + options_.queue_lease_seconds;
  Unit unit;
  unit.steps.then(
      kDueRows, Params().add(now).add(std::int64_t{limit}),
      [out, now, lease_until](Rows& due, Steps& next) -> PgResult<void> {
        if (due.size() == 0) return {};
        std::vector<std::int64_t> rows;
        for (int i = 0; i < due.size(); ++i) rows.push_back(due.int64(i, 0));
        next.then(kMessages, Params().add_array(rows), [out](Rows& m, Steps&) -> PgResult<void> {
          for (int i = 0; i < m.size(); ++i) {
            QueuedMessage q;
            q.row = m.int64(i, 0);
            q.queue_id = m.text(i, 1);
            q.content_id = m.int64(i, 2);
            q.sender = m.text(i, 3);
            q.smtputf8 = m.int64(i, 4) != 0;
            q.body_8bit = m.int64(i, 5) != 0;
            q.created_at = m.int64(i, 6);
            q.size = static_cast<std::uint64_t>(m.int64(i, 7));
            out->push_back(std::move(q));
          }
          return {};
        });
        next.then(kLease, Params().add(now).add(lease_until).add_array(rows),
                  [out, now](Rows& r, Steps&) -> PgResult<void> {
                    for (int i = 0; i < r.size(); ++i) {
                      QueuedRecipient rcpt{r.int64(i, 0), {},  r.text(i, 2), r.text(i, 3),
                                           r.int64(i, 4), now, r.text(i, 6)};
                      for (auto& m : *out) {
                        if (m.row != r.int64(i, 1)) continue;
                        rcpt.queue_id = m.queue_id;
                        m.recipients.push_back(rcpt);
                      }
                    }
                    for (auto& m : *out)
                      std::sort(m.recipients.begin(), m.recipients.end(),
                                [](const auto& a, const auto& b) { return a.row < b.row; });
                    // A message whose recipients another runner leased first is not ours.
                    std::erase_if(*out, [](const auto& m) { return m.recipients.empty(); });
                    return {};
                  });
        return {};
      });
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::read_chunk(ContentId content, std::int64_t seq,
                             Reply<std::optional<std::string>> done) {
  auto out = std::make_shared<std::optional<std::string>>();
  Unit unit{.begin = "", .steps = {}};
  unit.steps.then(kReadChunk, Params().add(content).add(seq), [out](Rows& r, Steps&) {
    if (r.size() > 0) out->emplace(r.bytes(0, 0));
    return PgResult<void>{};
  });
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::record_attempt(AttemptRecord record, DomainTest is_local_domain,
                                 Reply<BounceStored> done) {
  auto now = unix_now();
  Unit unit;
  for (const auto& result : record.recipients) {
    auto row = result.row;
    auto history = Params().add(row).add(now).add(result.remote_host).add(result.reply);
    unit.steps.then(
        kAttempt,
        Params().add(to_string(result.state)).add(result.next_attempt).add(result.reply).add(row),
        [row, history](Rows& r, Steps& next) -> PgResult<void> {
          // The row is gone when an admin deleted the message meanwhile.
          if (r.affected() == 0) return {};
          next.then(kHistory, history);
          next.then(kDoneMessage, Params().add(row));
          return {};
        });
  }
  auto stored = std::make_shared<BounceStored>();
  if (record.bounce)
    store_bounce(unit.steps, std::move(*record.bounce), std::move(is_local_domain), now, stored);
  ++*writes_in_flight_;
  answer<BounceStored>(
      pool_, std::move(unit), stored,
      [writes = writes_in_flight_, done = std::move(done)](Result<BounceStored> r) {
        --*writes;
        if (done) done(std::move(r));
      });
}

}  // namespace postroom::pgstore
