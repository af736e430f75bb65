// The delivery path: routing a recipient, accounts, and writing a message in chunks up to
// the commit that allows the acknowledgement (the same checks as store::commit_content).
#include <algorithm>
#include <ctime>
#include <set>

#include "postroom/base/address.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr int kMaxAliasDepth = 10;

// One address's mailbox (kind 0), its alias targets (1) and its domain's catch-all's (2).
constexpr Statement kLookup{
    "route_lookup",
    "SELECT 0::int8, id, ''::text FROM accounts WHERE address = $1 AND deleting = 0"
    " UNION ALL SELECT 1, 0, target FROM (SELECT target FROM aliases WHERE alias = $1"
    " ORDER BY target) a"
    " UNION ALL SELECT 2, 0, target FROM (SELECT target FROM aliases WHERE alias = $2"
    " ORDER BY target) c"};
constexpr Statement kFindAccount{
    "find_account",
    "SELECT a.id, a.address, a.password_hash, p.secret FROM accounts a"
    " LEFT JOIN apop_secrets p ON p.account_id = a.id WHERE a.address = $1 AND a.deleting = 0"};
constexpr Statement kSenderAddresses{
    "sender_addresses",
    "SELECT alias FROM aliases WHERE target = $1 AND alias NOT LIKE '@%' ORDER BY alias"};
constexpr Statement kStartContent{"start_content",
                                  "INSERT INTO contents (id, created_at) VALUES ($1, $2)"};
constexpr Statement kAppendChunk{
    "append_chunk", "INSERT INTO content_chunks (content_id, seq, data) VALUES ($1, $2, $3)"};
// octet_length of a bytea reads its header, not the (possibly TOASTed) value.
constexpr Statement kChunkSummary{
    "chunk_summary",
    "SELECT count(*), coalesce(sum(octet_length(data)), 0)::int8, coalesce(min(seq), 0),"
    " coalesce(max(seq), -1) FROM content_chunks WHERE content_id = $1"};
constexpr Statement kSeal{"seal_content",
                          "UPDATE contents SET size = $2, pop3_size = $3, chunks = $4,"
                          " complete = 1 WHERE id = $1 AND complete = 0"};
constexpr Statement kDeliver{"deliver",
                             "INSERT INTO deliveries (account_id, content_id, uidl, delivered_at)"
                             " SELECT id, $1, $2, $3 FROM accounts WHERE id = $4 AND deleting = 0"};
constexpr Statement kQueue{
    "queue_message",
    "INSERT INTO queue (queue_id, content_id, sender, smtputf8, body_8bit, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"};
constexpr Statement kQueueRecipients{
    "queue_recipients",
    "INSERT INTO queue_recipients (queue_row, recipient, next_attempt)"
    " SELECT $1, r, $3 FROM unnest($2::text[]) WITH ORDINALITY AS t(r, n) ORDER BY n"};
constexpr Statement kDropContent{"drop_content", "DELETE FROM contents WHERE id = $1"};
constexpr Statement kDiscard{"discard_content",
                             "DELETE FROM contents WHERE id = $1 AND complete = 0"};

std::int64_t now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

// As the SQLite store's: seconds in base 32, then randomness (UIDLs sort by arrival).
std::string new_uidl(std::int64_t seconds) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";
  std::string out(7, '0');
  auto left = static_cast<std::uint64_t>(seconds);
  for (int i = 6; i >= 0; --i, left >>= 5) out[static_cast<std::size_t>(i)] = kDigits[left & 31];
  return out + random_token(11);
}

bool catch_all_skips(std::string_view address) {
  std::string_view local = address.substr(0, address.rfind('@'));
  return local == "postmaster" || local == "abuse";
}

std::string_view domain_part(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

// Alias expansion as store::resolve_recipient does it, one lookup per local address, each
// queued by the lookup before it (depth first, like the SQLite store's recursion).
struct Expansion {
  DomainTest is_local_domain;
  std::set<std::string> seen;
  Route route;
};

void expand(const std::shared_ptr<Expansion>& x, const std::string& address, int depth,
            Steps& steps) {
  if (!x->seen.insert(address).second || depth > kMaxAliasDepth) return;
  if (!x->is_local_domain(domain_part(address))) {
    auto& remote = x->route.remote;
    if (std::find(remote.begin(), remote.end(), address) == remote.end()) remote.push_back(address);
    return;
  }
  steps.then(kLookup, Params().add(address).add("@" + std::string(domain_part(address))),
             [x, address, depth](Rows& rows, Steps& next) -> PgResult<void> {
               std::vector<std::string> targets, catch_all;
               for (int i = 0; i < rows.size(); ++i) {
                 switch (rows.int64(i, 0)) {
                   case 0: {
                     auto id = rows.int64(i, 1);
                     auto& accounts = x->route.accounts;
                     if (std::find(accounts.begin(), accounts.end(), id) == accounts.end())
                       accounts.push_back(id);
                     return {};
                   }
                   case 1:
                     targets.push_back(rows.text(i, 2));
                     break;
                   default:
                     catch_all.push_back(rows.text(i, 2));
                     break;
                 }
               }
               if (targets.empty() && !catch_all_skips(address)) targets = std::move(catch_all);
               for (const auto& target : targets) expand(x, target, depth + 1, next);
               return {};
             });
}

}  // namespace

PgMailStore::PgMailStore(Pool& pool, PgMailStoreOptions options) : pool_(pool), options_(options) {}

void PgMailStore::resolve_recipient(std::string address, DomainTest is_local_domain,
                                    Reply<Route> done) {
  auto x = std::make_shared<Expansion>();
  x->is_local_domain = std::move(is_local_domain);
  auto route = std::make_shared<Route>();
  if (!x->is_local_domain(domain_part(address))) {
    route->kind = Route::Kind::remote;
    route->remote.push_back(address);
    return answer(pool_, Unit{.begin = "", .steps = {}}, route, std::move(done));
  }
  Unit unit{.begin = kReadSnapshot, .steps = {}};
  expand(x, address, 0, unit.steps);
  pool_.run(std::move(unit), [x, done = std::move(done)](PgResult<void> r) {
    if (!r) return done(std::unexpected(to_error(r.error())));
    // A local alias that forwards elsewhere is still a local recipient.
    bool found = !x->route.accounts.empty() || !x->route.remote.empty();
    x->route.kind = found ? Route::Kind::local : Route::Kind::unknown;
    done(std::move(x->route));
  });
}

void PgMailStore::find_account(std::string address, Reply<std::optional<Account>> done) {
  auto account = std::make_shared<std::optional<Account>>();
  Unit unit{.begin = "", .steps = {}};
  unit.steps.then(kFindAccount, Params().add(address), [account](Rows& r, Steps&) {
    if (r.size() == 0) return PgResult<void>{};
    Account a{r.int64(0, 0), r.text(0, 1), r.text(0, 2), std::nullopt};
    if (!r.is_null(0, 3)) a.apop_secret = r.text(0, 3);
    account->emplace(std::move(a));
    return PgResult<void>{};
  });
  answer(pool_, std::move(unit), account, std::move(done));
}

void PgMailStore::sender_addresses(std::string address, Reply<std::vector<std::string>> done) {
  auto out = std::make_shared<std::vector<std::string>>(std::vector<std::string>{address});
  Unit unit{.begin = "", .steps = {}};
  unit.steps.then(kSenderAddresses, Params().add(address), [out](Rows& r, Steps&) {
    for (int i = 0; i < r.size(); ++i) out->push_back(r.text(i, 0));
    return PgResult<void>{};
  });
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::append_chunk(ContentId content, std::int64_t seq, bool first, std::string bytes,
                               Reply<void> done) {
  Unit unit;
  // The primary key refuses an id already taken; the foreign key a chunk of a content gone.
  if (first) unit.steps.then(kStartContent, Params().add(content).add(now()));
  unit.steps.then(kAppendChunk, Params().add(content).add(seq).add_bytes(std::move(bytes)));
  ++writes_in_flight_;
  answer(pool_, std::move(unit), [this, done = std::move(done)](Result<void> r) {
    --writes_in_flight_;
    if (done) done(std::move(r));
  });
}

void PgMailStore::commit_message(MessageCommit commit, Reply<StoredMessage> done) {
  auto stored = std::make_shared<StoredMessage>();
  stored->content_id = commit.content;
  auto id = commit.content;
  auto t = now();
  Unit unit;
  std::int64_t first_streamed = commit.head ? 1 : 0;
  // No earlier chunk created the content when everything fits in the last one.
  if (commit.last_seq == first_streamed) unit.steps.then(kStartContent, Params().add(id).add(t));
  if (commit.head)
    unit.steps.then(kAppendChunk,
                    Params().add(id).add(std::int64_t{0}).add_bytes(std::move(*commit.head)));
  if (!commit.last_chunk.empty())
    unit.steps.then(kAppendChunk,
                    Params().add(id).add(commit.last_seq).add_bytes(std::move(commit.last_chunk)));
  // The seal: exactly the chunks and octets the session sent, and the content still open.
  auto summary = commit.summary;
  unit.steps.then(kChunkSummary, Params().add(id), [id, summary](Rows& r, Steps&) {
    auto chunks = r.int64(0, 0), bytes = r.int64(0, 1);
    auto first = r.int64(0, 2), last = r.int64(0, 3);
    if (chunks != summary.chunks || bytes != static_cast<std::int64_t>(summary.size) ||
        first != 0 || last != summary.chunks - 1)
      return refuse("message content " + std::to_string(id) +
                    " is incomplete: " + std::to_string(chunks) + " chunk(s) of " +
                    std::to_string(bytes) + " octets stored, " + std::to_string(summary.chunks) +
                    " of " + std::to_string(summary.size) + " sent");
    return PgResult<void>{};
  });
  unit.steps.then(kSeal,
                  Params()
                      .add(id)
                      .add(static_cast<std::int64_t>(summary.size))
                      .add(static_cast<std::int64_t>(summary.pop3_size))
                      .add(summary.chunks),
                  [id](Rows& r, Steps&) {
                    if (r.affected() != 1)
                      return refuse("message content " + std::to_string(id) +
                                    " is not an open content of this session");
                    return PgResult<void>{};
                  });
  const auto& destination = commit.destination;
  for (auto account : destination.accounts) {
    // A mailbox deleted (or being deleted) since its recipient was checked takes nothing.
    unit.steps.then(kDeliver, Params().add(id).add(new_uidl(t)).add(t).add(account),
                    [account](Rows& r, Steps&) {
                      if (r.affected() != 1)
                        return refuse("mailbox " + std::to_string(account) + " no longer exists");
                      return PgResult<void>{};
                    });
  }
  const auto& queue = destination.queue;
  if (queue && !queue->recipients.empty()) {
    stored->queue_id = random_token(10);
    unit.steps.then(kQueue,
                    Params()
                        .add(stored->queue_id)
                        .add(id)
                        .add(queue->sender)
                        .add(std::int64_t{queue->smtputf8})
                        .add(std::int64_t{queue->body_8bit})
                        .add(t),
                    [recipients = queue->recipients, t](Rows& r, Steps& next) {
                      next.then(kQueueRecipients,
                                Params().add(r.int64(0, 0)).add_array(recipients).add(t));
                      return PgResult<void>{};
                    });
  }
  if (destination.accounts.empty() && stored->queue_id.empty())
    unit.steps.then(kDropContent, Params().add(id));  // nothing refers to it: no orphan
  ++writes_in_flight_;
  answer<StoredMessage>(pool_, std::move(unit), stored,
                        [this, done = std::move(done)](Result<StoredMessage> r) {
                          --writes_in_flight_;
                          if (done) done(std::move(r));
                        });
}

void PgMailStore::discard_message(ContentId content) {
  Unit unit;
  unit.steps.then(kDiscard, Params().add(content));
  pool_.run(std::move(unit), [](PgResult<void>) {});  // a leftover is swept later anyway
}

}  // namespace postroom::pgstore
