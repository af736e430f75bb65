// The outbound queue: claiming due recipients under a lease so that several daemons never
// deliver one message twice, reading its chunks, and recording each attempt.
#include <algorithm>
#include <map>
#include <set>

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
constexpr Statement kLease{"lease_recipients",
                           "UPDATE queue_recipients SET next_attempt = $2, leased_by = $4 WHERE "
                           "queue_row = ANY($3::int8[])"
                           " AND state IN ('queued', 'deferred') AND next_attempt <= $1"
                           " RETURNING id, queue_row, recipient, state, attempts, last_reply"};
// This runner's own leases, renewed to $1 while they still hold: a row whose next attempt
// is no longer the lease this runner set was recorded, retried by an admin, or (after the
// lease ran out) claimed by another runner.
constexpr Statement kRenew{
    "renew_leases",
    "UPDATE queue_recipients r SET next_attempt = $1"
    " FROM unnest($2::int8[], $3::int8[]) AS o(id, lease)"
    " WHERE r.id = o.id AND r.next_attempt = o.lease AND r.state IN ('queued', 'deferred')"
    " RETURNING r.id, r.queue_row, r.recipient, r.state, r.attempts, r.last_reply"};
// Orders only: its check runs after every step queued before it.
constexpr Statement kThen{"", "SELECT 1"};
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
    " last_reply = $3, leased_by = NULL WHERE id = $4"};
constexpr Statement kHistory{
    "queue_history",
    "INSERT INTO queue_history (recipient_row, at, remote_host, reply) VALUES ($1, $2, $3, $4)"};
// A runner's leases given back: due now, for whichever runner polls first.
constexpr Statement kGiveBack{
    "give_back_leases",
    "UPDATE queue_recipients SET next_attempt = $1, leased_by = NULL WHERE leased_by = $2"
    " AND state IN ('queued', 'deferred')"};
constexpr Statement kDoneMessage{
    "queue_done",
    "DELETE FROM queue WHERE id = (SELECT queue_row FROM queue_recipients WHERE id = $1)"
    " AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE queue_row = queue.id"
    " AND state IN ('queued', 'deferred'))"};

}  // namespace

namespace {

// One poll's recipients: those it renewed or newly leased.
struct Poll {
  std::string node;  // who takes the leases
  std::int64_t now = 0;
  std::int64_t lease_until = 0;
  std::map<std::int64_t, std::int64_t> asked;                        // the leases it tried to renew
  std::vector<std::pair<std::int64_t, QueuedRecipient>> recipients;  // (queue row, recipient)
  std::vector<QueuedMessage> messages;
};

PgResult<void> take_recipients(Rows& r, Poll& poll) {
  for (int i = 0; i < r.size(); ++i)
    poll.recipients.push_back(
        {r.int64(i, 1),
         {r.int64(i, 0), {}, r.text(i, 2), r.text(i, 3), r.int64(i, 4), poll.now, r.text(i, 5)}});
  return {};
}

void claim(Steps& steps, const std::shared_ptr<Poll>& poll, std::int64_t limit) {
  if (limit <= 0) return;
  steps.then(kDueRows, Params().add(poll->now).add(limit), [poll](Rows& due, Steps& next) {
    if (due.size() == 0) return PgResult<void>{};
    std::vector<std::int64_t> rows;
    for (int i = 0; i < due.size(); ++i) rows.push_back(due.int64(i, 0));
    next.then(kLease,
              Params().add(poll->now).add(poll->lease_until).add_array(rows).add(poll->node),
              [poll](Rows& r, Steps&) { return take_recipients(r, *poll); });
    return PgResult<void>{};
  });
}

}  // namespace

void PgMailStore::due_messages(std::int64_t now, int limit,
                               Reply<std::vector<QueuedMessage>> done) {
  // A runner sees its own leased recipients again on every poll (as the SQLite store shows
  // a due message until its attempt is recorded) and renews them; other runners skip them
  // until the lease runs out, which is how a dead daemon's queue passes to the others.
  auto poll = std::make_shared<Poll>();
  poll->node = options_.node;
  poll->now = now;
  poll->lease_until = now + options_.queue_lease_seconds;
  poll->asked = *leases_;
  Unit unit;
  if (poll->asked.empty()) {
    claim(unit.steps, poll, limit);
  } else {
    std::vector<std::int64_t> ids, leases;
    for (const auto& [id, lease] : poll->asked) {
      ids.push_back(id);
      leases.push_back(lease);
    }
    unit.steps.then(kRenew, Params().add(poll->lease_until).add_array(ids).add_array(leases),
                    [poll, limit](Rows& r, Steps& next) {
                      take_recipients(r, *poll);
                      std::set<std::int64_t> rows;
                      for (const auto& [row, rcpt] : poll->recipients) rows.insert(row);
                      claim(next, poll, limit - static_cast<std::int64_t>(rows.size()));
                      return PgResult<void>{};
                    });
  }
  unit.steps.then(kThen, {}, [poll](Rows&, Steps& next) {
    if (poll->recipients.empty()) return PgResult<void>{};
    std::vector<std::int64_t> rows;
    for (const auto& [row, rcpt] : poll->recipients) rows.push_back(row);
    next.then(kMessages, Params().add_array(rows), [poll](Rows& m, Steps&) {
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
        for (const auto& [row, rcpt] : poll->recipients) {
          if (row != q.row) continue;
          q.recipients.push_back(rcpt);
          q.recipients.back().queue_id = q.queue_id;
        }
        std::sort(q.recipients.begin(), q.recipients.end(),
                  [](const auto& a, const auto& b) { return a.row < b.row; });
        poll->messages.push_back(std::move(q));
      }
      return PgResult<void>{};
    });
    return PgResult<void>{};
  });
  pool_.run(std::move(unit), [poll, leases = leases_, done = std::move(done)](PgResult<void> r) {
    if (!r) {
      if (done) done(std::unexpected(to_error(r.error())));
      return;
    }
    // Leases that did not renew are no longer this runner's; the rest now end later.
    for (const auto& [id, lease] : poll->asked) leases->erase(id);
    for (const auto& [row, rcpt] : poll->recipients) (*leases)[rcpt.row] = poll->lease_until;
    if (done) done(std::move(poll->messages));
  });
}

void PgMailStore::give_back_leases(Reply<int> done) {
  auto given = std::make_shared<int>(0);
  Unit unit;
  unit.steps.then(kGiveBack, Params().add(unix_now()).add(options_.node), [given](Rows& r, Steps&) {
    *given = static_cast<int>(r.affected());
    return PgResult<void>{};
  });
  leases_->clear();
  answer(pool_, std::move(unit), given, std::move(done));
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
  std::vector<std::int64_t> recorded;
  for (const auto& result : record.recipients) recorded.push_back(result.row);
  auto stored = std::make_shared<BounceStored>();
  if (record.bounce)
    store_bounce(unit.steps, std::move(*record.bounce), std::move(is_local_domain), now, stored);
  ++*writes_in_flight_;
  answer<BounceStored>(pool_, std::move(unit), stored,
                       [writes = writes_in_flight_, leases = leases_, recorded,
                        done = std::move(done)](Result<BounceStored> r) {
                         --*writes;
                         // Recorded: no longer a lease of this runner's.
                         if (r)
                           for (auto row : recorded) leases->erase(row);
                         if (done) done(std::move(r));
                       });
}

}  // namespace postroom::pgstore
