// Away replies on PostgreSQL: the settings of the mailboxes a message reached, and a reply
// sent at most once per interval per sender, decided atomically even across daemons.
#include "bounce_steps.hpp"
#include "message_steps.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr Statement kVacation{
    "vacation_of",
    "SELECT v.account_id, a.address, v.subject, v.body, v.starts_at, v.ends_at,"
    " v.interval_days, (SELECT replied_at FROM vacation_replies r"
    " WHERE r.account_id = v.account_id AND r.sender = $2)"
    " FROM vacations v JOIN accounts a ON a.id = v.account_id WHERE v.account_id = $1"};
constexpr Statement kOwnAddresses{
    "vacation_own_addresses",
    "SELECT alias FROM aliases WHERE target = $1 AND alias NOT LIKE '@%' ORDER BY alias"};
// Records the reply unless one went to this sender within the interval ($4 seconds); a row
// back means this call sends it. The upsert's row lock makes concurrent calls take turns.
constexpr Statement kClaimReply{
    "vacation_claim_reply",
    "INSERT INTO vacation_replies (account_id, sender, replied_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (account_id, sender) DO UPDATE SET replied_at = $3"
    " WHERE vacation_replies.replied_at <= $3 - $4 RETURNING 1"};

}  // namespace

void PgMailStore::vacations_for(std::vector<std::int64_t> accounts, std::string sender,
                                Reply<std::vector<VacationCandidate>> done) {
  auto out = std::make_shared<std::vector<VacationCandidate>>();
  Unit unit{.begin = kReadSnapshot, .steps = {}};
  for (auto account : accounts) {
    unit.steps.then(kVacation, Params().add(account).add(sender), [out](Rows& r, Steps& next) {
      if (r.size() == 0) return PgResult<void>{};
      VacationCandidate c;
      auto& v = c.vacation;
      v.account = r.int64(0, 0);
      v.address = r.text(0, 1);
      v.subject = r.text(0, 2);
      v.body = r.text(0, 3);
      if (!r.is_null(0, 4)) v.starts_at = r.int64(0, 4);
      if (!r.is_null(0, 5)) v.ends_at = r.int64(0, 5);
      v.interval_days = r.int64(0, 6);
      if (!r.is_null(0, 7)) c.last_reply = r.int64(0, 7);
      c.own_addresses.push_back(v.address);
      auto slot = out->size();
      next.then(kOwnAddresses, Params().add(v.address), [out, slot](Rows& a, Steps&) {
        for (int i = 0; i < a.size(); ++i) (*out)[slot].own_addresses.push_back(a.text(i, 0));
        return PgResult<void>{};
      });
      out->push_back(std::move(c));
      return PgResult<void>{};
    });
  }
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::send_vacation_reply(VacationReply reply, DomainTest is_local_domain,
                                      Reply<VacationOutcome> done) {
  auto now = unix_now();
  auto stored = std::make_shared<BounceStored>();
  auto sending = std::make_shared<bool>(false);
  Unit unit;
  unit.steps.then(kClaimReply,
                  Params().add(reply.account).add(reply.to).add(now).add(reply.interval_seconds),
                  [stored, sending, now, bounce = Bounce{reply.to, std::move(reply.message)},
                   is_local_domain = std::move(is_local_domain)](Rows& r, Steps& next) {
                    if (r.size() == 0) return PgResult<void>{};  // too soon
                    *sending = true;
                    store_bounce(next, bounce, is_local_domain, now, stored);
                    return PgResult<void>{};
                  });
  ++*writes_in_flight_;
  pool_.run(std::move(unit), [writes = writes_in_flight_, stored, sending,
                              done = std::move(done)](PgResult<void> r) {
    --*writes;
    if (!done) return;
    if (!r) return done(std::unexpected(to_error(r.error())));
    using Where = BounceStored::Where;
    if (!*sending) return done(VacationOutcome{});
    switch (stored->where) {
      case Where::queue:
        return done(VacationOutcome{VacationSent::queued, stored->queue_id});
      case Where::mailbox:
        return done(VacationOutcome{VacationSent::delivered, {}});
      case Where::none:
      case Where::dropped:
        break;
    }
    done(VacationOutcome{VacationSent::dropped, {}});
  });
}

}  // namespace postroom::pgstore
