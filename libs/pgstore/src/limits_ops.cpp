// Outbound limits' counters and notices for the postmaster on PostgreSQL.
#include <algorithm>

#include "bounce_steps.hpp"
#include "message_steps.hpp"
#include "postroom/base/address.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "postroom/store/postmaster.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr std::int64_t kDaySeconds = 86400;

constexpr Statement kSaveBucket{
    "outbound_bucket",
    "INSERT INTO outbound_counts (subject, bucket, messages) VALUES ($1, $2, $3)"
    " ON CONFLICT (subject, bucket) DO UPDATE SET messages = excluded.messages"};
constexpr Statement kSaveRecipient{
    "outbound_recipient",
    "INSERT INTO outbound_recipients (subject, recipient, first_seen) VALUES ($1, $2, $3)"
    " ON CONFLICT (subject, recipient) DO UPDATE SET first_seen = excluded.first_seen"};
constexpr Statement kSaveNotice{"outbound_notice",
                                "INSERT INTO outbound_notices (subject, day) VALUES ($1, $2)"
                                " ON CONFLICT (subject) DO UPDATE SET day = excluded.day"};
constexpr Statement kPruneBuckets{"outbound_prune_buckets",
                                  "DELETE FROM outbound_counts WHERE bucket < $1"};
constexpr Statement kPruneRecipients{"outbound_prune_recipients",
                                     "DELETE FROM outbound_recipients WHERE first_seen < $1"};
constexpr Statement kPruneNotices{"outbound_prune_notices",
                                  "DELETE FROM outbound_notices WHERE day < $1"};

constexpr Statement kLoadBuckets{
    "outbound_load_buckets",
    "SELECT subject, bucket, messages FROM outbound_counts WHERE bucket >= $1"};
constexpr Statement kLoadRecipients{"outbound_load_recipients",
                                    "SELECT subject, recipient, first_seen FROM outbound_recipients"
                                    " WHERE first_seen >= $1"};
constexpr Statement kLoadNotices{"outbound_load_notices",
                                 "SELECT subject, day FROM outbound_notices WHERE day >= $1"};

}  // namespace

void PgMailStore::outbound_counts(std::int64_t since, std::int64_t bucket_seconds,
                                  Reply<OutboundCounts> done) {
  auto out = std::make_shared<OutboundCounts>();
  Unit unit{.begin = kReadSnapshot, .steps = {}};
  unit.steps
      .then(kLoadBuckets, Params().add(since / bucket_seconds),
            [out](Rows& r, Steps&) {
              for (int i = 0; i < r.size(); ++i)
                out->buckets.push_back({r.text(i, 0), r.int64(i, 1), r.int64(i, 2)});
              return PgResult<void>{};
            })
      .then(kLoadRecipients, Params().add(since),
            [out](Rows& r, Steps&) {
              for (int i = 0; i < r.size(); ++i)
                out->recipients.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2)});
              return PgResult<void>{};
            })
      .then(kLoadNotices, Params().add(since / kDaySeconds), [out](Rows& r, Steps&) {
        for (int i = 0; i < r.size(); ++i) out->notices.push_back({r.text(i, 0), r.int64(i, 1)});
        return PgResult<void>{};
      });
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::save_outbound_counts(OutboundCounts changes, std::int64_t prune_before,
                                       std::int64_t bucket_seconds, Reply<void> done) {
  Unit unit;
  for (const auto& b : changes.buckets)
    unit.steps.then(kSaveBucket, Params().add(b.subject).add(b.bucket).add(b.messages));
  for (const auto& r : changes.recipients)
    unit.steps.then(kSaveRecipient, Params().add(r.subject).add(r.recipient).add(r.first_seen));
  for (const auto& n : changes.notices)
    unit.steps.then(kSaveNotice, Params().add(n.subject).add(n.day));
  unit.steps.then(kPruneBuckets, Params().add(prune_before / bucket_seconds))
      .then(kPruneRecipients, Params().add(prune_before))
      .then(kPruneNotices, Params().add(prune_before / kDaySeconds));
  // The counts are absolute: saves run one after another, so an older one committing on
  // another connection never overwrites a newer one. (No account has id 0.)
  constexpr std::int64_t kCountersLane = 0;
  answer(*account_lanes_, kCountersLane, std::move(unit), std::move(done));
}

void PgMailStore::notify_postmaster(std::string message, std::vector<std::string> local_domains,
                                    Reply<bool> done) {
  // The main domain's postmaster, as store::deliver_to_postmaster finds it.
  auto address = store::lookup_order(Address{"postmaster", ""}, local_domains).front();
  DomainTest is_local = [local_domains](std::string_view domain) {
    return std::find(local_domains.begin(), local_domains.end(), to_lower_ascii(domain)) !=
           local_domains.end();
  };
  auto stored = std::make_shared<BounceStored>();
  Unit unit;
  store_bounce(unit.steps, Bounce{address, std::move(message)}, std::move(is_local), unix_now(),
               stored);
  pool_.run(std::move(unit), [stored, done = std::move(done)](PgResult<void> r) {
    if (!done) return;
    if (!r) return done(std::unexpected(to_error(r.error())));
    done(stored->where == BounceStored::Where::mailbox ||
         stored->where == BounceStored::Where::queue);
  });
}

}  // namespace postroom::pgstore
