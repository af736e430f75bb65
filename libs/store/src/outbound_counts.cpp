// The outbound limit counters as rows, and the postmaster's notice as a stored message.
#include "postroom/store/outbound_counts.hpp"

#include "postroom/base/address.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/postmaster.hpp"

namespace postroom::store {

namespace {
#define TRY_STMT(var, db, sql)  \
  auto var = (db).prepare(sql); \
  if (!var) return std::unexpected(var.error())
#define TRY(expr) \
  if (auto r_ = (expr); !r_) return std::unexpected(r_.error())

constexpr std::int64_t kDaySeconds = 86400;
}  // namespace

Result<OutboundCounts> load_outbound_counts(Database& db, std::int64_t since,
                                            std::int64_t bucket_seconds) {
  OutboundCounts out;
  {
    TRY_STMT(s, db, "SELECT subject, bucket, messages FROM outbound_counts WHERE bucket >= ?");
    s->bind(1, since / bucket_seconds);
    while (true) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      out.buckets.push_back({s->column_text(0), s->column_int(1), s->column_int(2)});
    }
  }
  {
    TRY_STMT(s, db,
             "SELECT subject, recipient, first_seen FROM outbound_recipients "
             "WHERE first_seen >= ?");
    s->bind(1, since);
    while (true) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      out.recipients.push_back({s->column_text(0), s->column_text(1), s->column_int(2)});
    }
  }
  {
    TRY_STMT(s, db, "SELECT subject, day FROM outbound_notices WHERE day >= ?");
    s->bind(1, since / kDaySeconds);
    while (true) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      out.notices.push_back({s->column_text(0), s->column_int(1)});
    }
  }
  return out;
}

Result<void> save_outbound_counts(Database& db, const OutboundCounts& changes,
                                  std::int64_t prune_before, std::int64_t bucket_seconds) {
  {
    TRY_STMT(s, db,
             "INSERT INTO outbound_counts(subject, bucket, messages) VALUES (?, ?, ?) "
             "ON CONFLICT(subject, bucket) DO UPDATE SET messages = excluded.messages");
    for (const auto& b : changes.buckets) {
      s->bind(1, b.subject).bind(2, b.bucket).bind(3, b.messages);
      TRY(s->run());
    }
  }
  {
    TRY_STMT(s, db,
             "INSERT INTO outbound_recipients(subject, recipient, first_seen) VALUES (?, ?, ?) "
             "ON CONFLICT(subject, recipient) DO UPDATE SET first_seen = excluded.first_seen");
    for (const auto& r : changes.recipients) {
      s->bind(1, r.subject).bind(2, r.recipient).bind(3, r.first_seen);
      TRY(s->run());
    }
  }
  {
    TRY_STMT(s, db,
             "INSERT INTO outbound_notices(subject, day) VALUES (?, ?) "
             "ON CONFLICT(subject) DO UPDATE SET day = excluded.day");
    for (const auto& n : changes.notices) {
      s->bind(1, n.subject).bind(2, n.day);
      TRY(s->run());
    }
  }
  {
    TRY_STMT(s, db, "DELETE FROM outbound_counts WHERE bucket < ?");
    s->bind(1, prune_before / bucket_seconds);
    TRY(s->run());
  }
  {
    TRY_STMT(s, db, "DELETE FROM outbound_recipients WHERE first_seen < ?");
    s->bind(1, prune_before);
    TRY(s->run());
  }
  {
    TRY_STMT(s, db, "DELETE FROM outbound_notices WHERE day < ?");
    s->bind(1, prune_before / kDaySeconds);
    TRY(s->run());
  }
  return {};
}

Result<bool> deliver_to_postmaster(Database& db, const std::string& message,
                                   const std::vector<std::string>& local_domains) {
  auto route = resolve_with_postmaster(db, Address{"postmaster", ""}, local_domains);
  if (!route) return std::unexpected(route.error());
  if (route->accounts.empty() && route->remote.empty()) return false;
  Destination destination;
  destination.accounts = route->accounts;
  if (!route->remote.empty()) {
    QueueRequest request;  // from the null sender: a notice is never bounced
    request.recipients = route->remote;
    destination.queue = std::move(request);
  }
  MessageWriter writer(db);
  TRY(writer.begin());
  // RFC 5321 §4.4: the trace line a local delivery adds; the relay strips it again.
  TRY(writer.add("Return-Path: <>\r\n"));
  TRY(writer.add(message));
  auto stored = writer.commit(destination);
  if (!stored) return std::unexpected(stored.error());
  return true;
}

}  // namespace postroom::store
