// Housekeeping on PostgreSQL: the health probe, sweeping abandoned writes, greylisting.
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr Statement kHeartbeat{
    "heartbeat",
    "INSERT INTO heartbeat (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = $1"};
constexpr Statement kQueueDepth{
    "queue_depth",
    "SELECT count(*), min(q.created_at) FROM queue_recipients r JOIN queue q"
    " ON q.id = r.queue_row WHERE r.state IN ('queued', 'deferred')"};
constexpr Statement kSweep{"sweep_abandoned",
                           "DELETE FROM contents WHERE complete = 0 AND created_at < $1"};

constexpr Statement kDomainPassed{
    "greylist_domain_passed",
    "UPDATE greylist_passed SET passed = $3 WHERE network = $1 AND sender_domain = $2"};
constexpr Statement kTriplet{"greylist_find",
                             "SELECT first_seen, passed IS NOT NULL FROM greylist"
                             " WHERE network = $1 AND sender = $2 AND recipient = $3 FOR UPDATE"};
constexpr Statement kTripletPass{
    "greylist_pass",
    "UPDATE greylist SET passed = $4 WHERE network = $1 AND sender = $2 AND recipient = $3"};
constexpr Statement kAllowDomain{
    "greylist_allow_domain",
    "INSERT INTO greylist_passed (network, sender_domain, passed) VALUES ($1, $2, $3)"
    " ON CONFLICT (network, sender_domain) DO UPDATE SET passed = $3"};
constexpr Statement kRecordTriplet{
    "greylist_record",
    "INSERT INTO greylist (network, sender, recipient, first_seen, passed)"
    " VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (network, sender, recipient)"
    " DO UPDATE SET first_seen = $4, passed = NULL"};
constexpr Statement kPurgeUnretried{
    "greylist_purge_unretried", "DELETE FROM greylist WHERE passed IS NULL AND first_seen < $1"};
constexpr Statement kPurgePassed{"greylist_purge_passed",
                                 "DELETE FROM greylist WHERE passed IS NOT NULL AND passed < $1"};
constexpr Statement kPurgeDomains{"greylist_purge_domains",
                                  "DELETE FROM greylist_passed WHERE passed < $1"};

}  // namespace

void PgMailStore::health(std::int64_t now, Reply<StoreHealth> done) {
  auto out = std::make_shared<StoreHealth>();
  Unit unit;
  // The heartbeat write tells the caller whether a write commits.
  unit.steps.then(kHeartbeat, Params().add(now));
  unit.steps.then(kQueueDepth, {}, [out](Rows& r, Steps&) {
    out->queued_recipients = r.int64(0, 0);
    if (!r.is_null(0, 1)) out->oldest_queued_at = r.int64(0, 1);
    return PgResult<void>{};
  });
  // disk_free_bytes stays unknown: the database's disk is the server's, not ours.
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::sweep_abandoned(std::int64_t created_before, Reply<int> done) {
  auto swept = std::make_shared<int>(0);
  Unit unit;
  unit.steps.then(kSweep, Params().add(created_before), [swept](Rows& r, Steps&) {
    *swept = static_cast<int>(r.affected());
    return PgResult<void>{};
  });
  answer(pool_, std::move(unit), swept, std::move(done));
}

void PgMailStore::greylist(GreylistTriplet t, std::int64_t now, std::int64_t window,
                           std::int64_t forget, Reply<bool> done) {
  // store::greylist_check's decision, in one transaction; the triplet's row is locked so
  // two daemons deciding at once take turns.
  auto passes = std::make_shared<bool>(false);
  auto triplet = std::make_shared<GreylistTriplet>(std::move(t));
  Unit unit;
  auto decide_triplet = [passes, triplet, now, window, forget](Steps& steps) {
    steps.then(
        kTriplet, Params().add(triplet->network).add(triplet->sender).add(triplet->recipient),
        [passes, triplet, now, window, forget](Rows& r, Steps& next) {
          auto key = [&] {
            return Params().add(triplet->network).add(triplet->sender).add(triplet->recipient);
          };
          bool found = r.size() > 0;
          auto first_seen = found ? r.int64(0, 0) : 0;
          if (found && r.boolean(0, 1)) {
            *passes = true;
            next.then(kTripletPass, key().add(now));
          } else if (found && now - first_seen >= window && now - first_seen <= forget) {
            *passes = true;
            next.then(kTripletPass, key().add(now));
            if (!triplet->sender_domain.empty())
              next.then(kAllowDomain,
                        Params().add(triplet->network).add(triplet->sender_domain).add(now));
          } else if (!found || now - first_seen > forget) {
            next.then(kRecordTriplet, key().add(now));
          }
          return PgResult<void>{};
        });
  };
  if (triplet->sender_domain.empty()) {
    decide_triplet(unit.steps);
  } else {
    unit.steps.then(kDomainPassed,
                    Params().add(triplet->network).add(triplet->sender_domain).add(now),
                    [passes, decide_triplet](Rows& r, Steps& next) {
                      // The sender domain passed from this network before: renewed, passes.
                      if (r.affected() > 0) {
                        *passes = true;
                      } else {
                        decide_triplet(next);
                      }
                      return PgResult<void>{};
                    });
  }
  answer(pool_, std::move(unit), passes, std::move(done));
}

void PgMailStore::purge_greylist(std::int64_t unretried_before, std::int64_t passed_before,
                                 Reply<int> done) {
  auto removed = std::make_shared<int>(0);
  auto count = [removed](Rows& r, Steps&) {
    *removed += static_cast<int>(r.affected());
    return PgResult<void>{};
  };
  Unit unit;
  unit.steps.then(kPurgeUnretried, Params().add(unretried_before), count)
      .then(kPurgePassed, Params().add(passed_before), count)
      .then(kPurgeDomains, Params().add(passed_before), count);
  answer(pool_, std::move(unit), removed, std::move(done));
}

}  // namespace postroom::pgstore
