// Away-reply settings and the per-sender memory in SQLite (schema 0012).
#include "postroom/store/vacation.hpp"

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "sql_try.hpp"

namespace postroom::store {
namespace {

constexpr const char* kColumns =
    "v.account_id, a.address, v.subject, v.body, v.starts_at, v.ends_at, v.interval_days";

Vacation read_row(const Statement& s) {
  Vacation v;
  v.account = s.column_int(0);
  v.address = s.column_text(1);
  v.subject = s.column_text(2);
  v.body = s.column_text(3);
  if (!s.column_is_null(4)) v.starts_at = s.column_int(4);
  if (!s.column_is_null(5)) v.ends_at = s.column_int(5);
  v.interval_days = s.column_int(6);
  return v;
}

Result<std::vector<Vacation>> select(Database& db, const std::string& where,
                                     std::optional<std::int64_t> account) {
  std::string sql = std::string("SELECT ") + kColumns +
                    " FROM vacations v JOIN accounts a ON a.id = v.account_id" + where +
                    " ORDER BY a.address";
  TRY_STMT(s, db, sql);
  if (account) s->bind(1, *account);
  std::vector<Vacation> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(read_row(*s));
  }
}

}  // namespace

Result<void> set_vacation(Database& db, const Vacation& v, std::int64_t now) {
  {
    TRY_STMT(s, db,
             "INSERT OR REPLACE INTO vacations(account_id, subject, body, starts_at, ends_at,"
             " interval_days, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    s->bind(1, v.account).bind(2, v.subject).bind(3, v.body);
    if (v.starts_at)
      s->bind(4, *v.starts_at);
    else
      s->bind_null(4);
    if (v.ends_at)
      s->bind(5, *v.ends_at);
    else
      s->bind_null(5);
    s->bind(6, v.interval_days).bind(7, now);
    TRY(s->run());
  }
  TRY_STMT(s, db, "DELETE FROM vacation_replies WHERE account_id = ?");
  s->bind(1, v.account);
  return s->run();
}

Result<bool> clear_vacation(Database& db, std::int64_t account) {
  bool had = false;
  {
    TRY_STMT(s, db, "DELETE FROM vacations WHERE account_id = ?");
    s->bind(1, account);
    TRY(s->run());
    had = db.changes() > 0;
  }
  TRY_STMT(s, db, "DELETE FROM vacation_replies WHERE account_id = ?");
  s->bind(1, account);
  TRY(s->run());
  return had;
}

Result<std::optional<Vacation>> find_vacation(Database& db, std::int64_t account) {
  auto found = select(db, " WHERE v.account_id = ?", account);
  if (!found) return std::unexpected(found.error());
  if (found->empty()) return std::optional<Vacation>();
  return std::optional<Vacation>(std::move(found->front()));
}

Result<std::vector<Vacation>> list_vacations(Database& db) {
  return select(db, "", std::nullopt);
}

Result<std::vector<VacationCandidate>> vacations_for(Database& db,
                                                     const std::vector<std::int64_t>& accounts,
                                                     const std::string& sender) {
  std::vector<VacationCandidate> out;
  for (auto account : accounts) {
    auto found = find_vacation(db, account);
    if (!found) return std::unexpected(found.error());
    if (!*found) continue;
    VacationCandidate c;
    c.vacation = std::move(**found);
    auto own = sender_addresses(db, c.vacation.address);
    if (!own) return std::unexpected(own.error());
    c.own_addresses = std::move(*own);
    TRY_STMT(s, db, "SELECT replied_at FROM vacation_replies WHERE account_id = ? AND sender = ?");
    s->bind(1, account).bind(2, sender);
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (*row) c.last_reply = s->column_int(0);
    out.push_back(std::move(c));
  }
  return out;
}

std::string_view to_string(VacationSent sent) {
  switch (sent) {
    case VacationSent::queued:
      return "queued";
    case VacationSent::delivered:
      return "delivered";
    case VacationSent::dropped:
      return "dropped";
    case VacationSent::too_soon:
      return "too soon";
  }
  return "too soon";
}

Result<VacationOutcome> send_vacation_reply(Database& db, const VacationReply& reply,
                                            std::int64_t now, const DomainTest& is_local_domain) {
  {
    TRY_STMT(s, db, "SELECT replied_at FROM vacation_replies WHERE account_id = ? AND sender = ?");
    s->bind(1, reply.account).bind(2, reply.to);
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (*row && now - s->column_int(0) < reply.interval_seconds) return VacationOutcome{};
  }
  {
    TRY_STMT(s, db,
             "INSERT OR REPLACE INTO vacation_replies(account_id, sender, replied_at)"
             " VALUES (?, ?, ?)");
    s->bind(1, reply.account).bind(2, reply.to).bind(3, now);
    TRY(s->run());
  }
  auto stored = store_bounce(db, Bounce{reply.to, reply.message}, is_local_domain);
  if (!stored) return std::unexpected(stored.error());
  using Where = BounceStored::Where;
  switch (stored->where) {
    case Where::queue:
      return VacationOutcome{VacationSent::queued, stored->queue_id};
    case Where::mailbox:
      return VacationOutcome{VacationSent::delivered, {}};
    case Where::none:
    case Where::dropped:
      break;
  }
  return VacationOutcome{VacationSent::dropped, {}};
}

}  // namespace postroom::store
