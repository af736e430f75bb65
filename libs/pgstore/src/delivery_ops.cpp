// The delivery path: routing a recipient, accounts, and writing a message in chunks up to
// the commit that allows the acknowledgement (the same checks as store::commit_content).
#include "message_steps.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "routing.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr Statement kFindAccount{
    "find_account",
    "SELECT a.id, a.address, a.password_hash, p.secret FROM accounts a"
    " LEFT JOIN apop_secrets p ON p.account_id = a.id WHERE a.address = $1 AND a.deleting = 0"};
constexpr Statement kSenderAddresses{
    "sender_addresses",
    "SELECT alias FROM aliases WHERE target = $1 AND alias NOT LIKE '@%' ORDER BY alias"};
constexpr Statement kDiscard{"discard_content",
                             "DELETE FROM contents WHERE id = $1 AND complete = 0"};

}  // namespace

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
    settle(x->route);
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
  if (first) start_content(unit.steps, content, unix_now());
  pgstore::append_chunk(unit.steps, content, seq, std::move(bytes));
  ++*writes_in_flight_;
  answer(*lanes_, content, std::move(unit),
         [writes = writes_in_flight_, done = std::move(done)](Result<void> r) {
           --*writes;
           if (done) done(std::move(r));
         });
}

void PgMailStore::commit_message(MessageCommit commit, Reply<StoredMessage> done) {
  auto stored = std::make_shared<StoredMessage>();
  auto id = commit.content;
  auto now = unix_now();
  Unit unit;
  // No earlier chunk created the content when everything fits in the last one.
  std::int64_t first_streamed = commit.head ? 1 : 0;
  if (commit.last_seq == first_streamed) start_content(unit.steps, id, now);
  if (commit.head) pgstore::append_chunk(unit.steps, id, 0, std::move(*commit.head));
  if (!commit.last_chunk.empty())
    pgstore::append_chunk(unit.steps, id, commit.last_seq, std::move(commit.last_chunk));
  commit_content(unit.steps, id, commit.summary, commit.destination, now, stored);
  ++*writes_in_flight_;
  answer<StoredMessage>(
      *lanes_, id, std::move(unit), stored,
      [writes = writes_in_flight_, done = std::move(done)](Result<StoredMessage> r) {
        --*writes;
        if (done) done(std::move(r));
      });
}

void PgMailStore::discard_message(ContentId content) {
  Unit unit;
  unit.steps.then(kDiscard, Params().add(content));
  // After the message's chunk writes (it must find what they left); a leftover is swept.
  lanes_->run(content, std::move(unit), [](PgResult<void>) {});
}

}  // namespace postroom::pgstore
