// The SQLite backend of MailStore: each named operation as one writer job or one pool read.
#include "postroom/store/mail_store.hpp"

#include "postroom/store/database.hpp"
#include "postroom/store/writer.hpp"

// GCC 12 reports the std::expected of expired_mail_accounts' read as freed off the heap when
// it inlines the pool read's std::function (a false positive of its -O2 inliner, like the one
// server.cpp silences); template instantiations land at the end of the file, so file-wide.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#endif

namespace postroom::store {

SqliteMailStore::SqliteMailStore(Writer& writer, ReadPool& reads, PoolRunner run_on_pool)
    : writer_(writer), reads_(reads), run_on_pool_(std::move(run_on_pool)) {}

template <class T>
void SqliteMailStore::read(std::function<Result<T>(Database&)> work, Reply<T> done) {
  auto result = std::make_shared<std::optional<Result<T>>>();
  run_on_pool_(
      [this, work = std::move(work), result] {
        auto ran = reads_.with([&](Database& db) -> Result<void> {
          result->emplace(work(db));
          return {};
        });
        if (!ran) result->emplace(std::unexpected(ran.error()));
      },
      [done = std::move(done), result] { done(std::move(**result)); });
}

template <class T>
void SqliteMailStore::write(std::function<Result<T>(Database&)> work, Reply<T> done,
                            Writer::Kind kind) {
  // The value is produced inside the job but handed out only once the batch committed:
  // the writer's own result says whether it did.
  auto value = std::make_shared<std::optional<T>>();
  writer_.submit(
      [work = std::move(work), value](Database& db) -> Result<void> {
        auto r = work(db);
        if (!r) return std::unexpected(r.error());
        value->emplace(std::move(*r));
        return {};
      },
      [done = std::move(done), value](Result<void> committed) {
        if (!done) return;
        if (!committed) return done(std::unexpected(committed.error()));
        done(std::move(**value));
      },
      kind);
}

// Result<void> carries no value: the writer's own result is the answer.
template <>
void SqliteMailStore::write<void>(std::function<Result<void>(Database&)> work, Reply<void> done,
                                  Writer::Kind kind) {
  writer_.submit(
      std::move(work),
      [done = std::move(done)](Result<void> committed) {
        if (done) done(std::move(committed));
      },
      kind);
}

void SqliteMailStore::resolve_recipient(std::string address, DomainTest is_local_domain,
                                        Reply<Route> done) {
  read<Route>([address = std::move(address), is_local_domain = std::move(is_local_domain)](
                  Database& db) { return store::resolve_recipient(db, address, is_local_domain); },
              std::move(done));
}

void SqliteMailStore::recipient_facts(Address recipient, std::vector<std::string> local_domains,
                                      QuotaDefaults defaults, Reply<RecipientFacts> done) {
  read<RecipientFacts>(
      [recipient = std::move(recipient), local_domains = std::move(local_domains), defaults](
          Database& db) { return store::recipient_facts(db, recipient, local_domains, defaults); },
      std::move(done));
}

void SqliteMailStore::find_account(std::string address, Reply<std::optional<Account>> done) {
  read<std::optional<Account>>(
      [address = std::move(address)](Database& db) { return store::find_account(db, address); },
      std::move(done));
}

void SqliteMailStore::sender_addresses(std::string address, Reply<std::vector<std::string>> done) {
  read<std::vector<std::string>>(
      [address = std::move(address)](Database& db) { return store::sender_addresses(db, address); },
      std::move(done));
}

void SqliteMailStore::find_device(std::int64_t account, std::string selector,
                                  Reply<std::optional<Device>> done) {
  read<std::optional<Device>>(
      [account, selector = std::move(selector)](Database& db) {
        return store::find_device(db, account, selector);
      },
      std::move(done));
}

void SqliteMailStore::record_device_use(std::int64_t device, std::int64_t at, std::string ip,
                                        Reply<void> done) {
  write<void>([device, at, ip = std::move(ip)](
                  Database& db) { return store::record_device_use(db, device, at, ip); },
              std::move(done));
}

void SqliteMailStore::append_chunk(ContentId content, std::int64_t seq, bool first,
                                   std::string bytes, Reply<void> done) {
  write<void>(
      [content, seq, first, bytes = std::move(bytes)](Database& db) -> Result<void> {
        if (first) {
          if (auto r = start_content(db, content); !r) return r;
        }
        return store::append_chunk(db, content, seq, bytes);
      },
      std::move(done));
}

void SqliteMailStore::commit_message(MessageCommit commit, Reply<StoredMessage> done) {
  write<StoredMessage>(
      [commit = std::move(commit)](Database& db) -> Result<StoredMessage> {
        // No earlier chunk job created the content when everything fits in the last one.
        std::int64_t first_streamed = commit.head ? 1 : 0;
        if (commit.last_seq == first_streamed) {
          if (auto r = start_content(db, commit.content); !r) return std::unexpected(r.error());
        }
        if (commit.head) {
          if (auto r = store::append_chunk(db, commit.content, 0, *commit.head); !r)
            return std::unexpected(r.error());
        }
        if (!commit.last_chunk.empty()) {
          if (auto r = store::append_chunk(db, commit.content, commit.last_seq, commit.last_chunk);
              !r)
            return std::unexpected(r.error());
        }
        return commit_content(db, commit.content, commit.summary, commit.destination);
      },
      std::move(done));
}

void SqliteMailStore::discard_message(ContentId content) {
  // Not a deletion the reserve is kept for: a full disk may well be why it failed.
  write<void>([content](Database& db) { return discard_content(db, content); }, nullptr);
}

void SqliteMailStore::list_mailbox(std::int64_t account, MailboxVisitor each,
                                   Reply<std::size_t> done) {
  read<std::size_t>(
      [account, each = std::move(each)](Database& db) { return visit_mailbox(db, account, each); },
      std::move(done));
}

void SqliteMailStore::read_message(MessageRead request, Reply<MessageChunks> done) {
  read<MessageChunks>(
      [request = std::move(request)](Database& db) -> Result<MessageChunks> {
        // One snapshot for the read-ahead's statements.
        auto snapshot = ReadTransaction::begin(db);
        if (!snapshot) return std::unexpected(snapshot.error());
        MessageChunks out;
        auto content = content_of(db, request.account, request.delivery);
        if (!content) return std::unexpected(content.error());
        if (*content == 0) return fail("message " + std::to_string(request.delivery) + " is gone");
        auto batch = read_chunks(db, *content, request.first_seq, request.max_bytes);
        if (!batch) return std::unexpected(batch.error());
        out.batch = std::move(*batch);
        if (!out.batch.complete) return out;
        // Read-ahead by delivery: each one's content, then the whole message.
        std::size_t left = request.ahead_budget;
        for (auto delivery : request.ahead) {
          auto ahead = content_of(db, request.account, delivery);
          if (!ahead || *ahead == 0) break;
          WholeMessages one;
          read_whole(db, {*ahead}, left, one);
          if (one.empty()) break;
          left -= one.front().second.size();
          out.ahead.emplace_back(delivery, std::move(one.front().second));
        }
        return out;
      },
      std::move(done));
}

void SqliteMailStore::delete_deliveries(std::int64_t account,
                                        std::vector<std::int64_t> delivery_ids, Reply<int> done) {
  write<int>([account, ids = std::move(delivery_ids)](
                 Database& db) { return store::delete_deliveries(db, account, ids); },
             std::move(done), Writer::Kind::frees);
}

void SqliteMailStore::due_messages(std::int64_t now, int limit,
                                   Reply<std::vector<QueuedMessage>> done) {
  read<std::vector<QueuedMessage>>(
      [now, limit](Database& db) -> Result<std::vector<QueuedMessage>> {
        // The cheap indexed query first: most polls find nothing due.
        auto next = next_due(db);
        if (!next) return std::unexpected(next.error());
        if (!*next || **next > now) return std::vector<QueuedMessage>();
        return store::due_messages(db, now, limit);
      },
      std::move(done));
}

void SqliteMailStore::read_chunk(ContentId content, std::int64_t seq,
                                 Reply<std::optional<std::string>> done) {
  read<std::optional<std::string>>(
      [content, seq](Database& db) { return store::read_chunk(db, content, seq); },
      std::move(done));
}

void SqliteMailStore::record_attempt(AttemptRecord record, DomainTest is_local_domain,
                                     Reply<BounceStored> done) {
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  write<BounceStored>(
      [record = std::move(record), is_local_domain = std::move(is_local_domain),
       now](Database& db) { return record_attempts(db, record, now, is_local_domain); },
      std::move(done));
}

void SqliteMailStore::sweep_abandoned(std::int64_t created_before, Reply<int> done) {
  write<int>([created_before](Database& db) { return sweep_incomplete(db, created_before); },
             std::move(done));
}

void SqliteMailStore::mailbox_quotas(std::vector<std::int64_t> accounts, QuotaDefaults defaults,
                                     Reply<std::vector<MailboxQuota>> done) {
  read<std::vector<MailboxQuota>>(
      [accounts = std::move(accounts), defaults](Database& db) {
        return store::mailbox_quotas(db, accounts, defaults);
      },
      std::move(done));
}

void SqliteMailStore::quota_warnings(std::vector<std::int64_t> accounts, QuotaDefaults defaults,
                                     std::vector<std::string> local_domains, ComposeWarning compose,
                                     Reply<int> done) {
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  write<int>(
      [accounts = std::move(accounts), defaults, local_domains = std::move(local_domains),
       compose = std::move(compose), now](Database& db) {
        return send_quota_warnings(db, accounts, defaults, now, local_domains, compose);
      },
      std::move(done));
}

void SqliteMailStore::greylist(GreylistTriplet triplet, std::int64_t now, std::int64_t window,
                               std::int64_t forget, Reply<bool> done) {
  write<bool>([triplet = std::move(triplet), now, window,
               forget](Database& db) { return greylist_check(db, triplet, now, window, forget); },
              std::move(done));
}

void SqliteMailStore::purge_greylist(std::int64_t unretried_before, std::int64_t passed_before,
                                     Reply<int> done) {
  write<int>([unretried_before, passed_before](
                 Database& db) { return greylist_purge(db, unretried_before, passed_before); },
             std::move(done));
}

void SqliteMailStore::vacations_for(std::vector<std::int64_t> accounts, std::string sender,
                                    Reply<std::vector<VacationCandidate>> done) {
  read<std::vector<VacationCandidate>>(
      [accounts = std::move(accounts), sender = std::move(sender)](Database& db) {
        return store::vacations_for(db, accounts, sender);
      },
      std::move(done));
}

void SqliteMailStore::send_vacation_reply(VacationReply reply, DomainTest is_local_domain,
                                          Reply<VacationOutcome> done) {
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  write<VacationOutcome>(
      [reply = std::move(reply), is_local_domain = std::move(is_local_domain), now](Database& db) {
        return store::send_vacation_reply(db, reply, now, is_local_domain);
      },
      std::move(done));
}

void SqliteMailStore::retention_settings(Reply<std::vector<RetentionSetting>> done) {
  read<std::vector<RetentionSetting>>([](Database& db) { return load_retention_settings(db); },
                                      std::move(done));
}

void SqliteMailStore::outbound_counts(std::int64_t since, std::int64_t bucket_seconds,
                                      Reply<OutboundCounts> done) {
  read<OutboundCounts>(
      [since, bucket_seconds](Database& db) {
        return load_outbound_counts(db, since, bucket_seconds);
      },
      std::move(done));
}

void SqliteMailStore::access_rules(Reply<std::vector<AccessRule>> done) {
  read<std::vector<AccessRule>>([](Database& db) { return list_access_rules(db); },
                                std::move(done));
}

void SqliteMailStore::mark_retrieved(std::int64_t account,
                                     std::vector<std::pair<std::int64_t, std::int64_t>> retrieved,
                                     Reply<int> done) {
  write<int>([account, retrieved = std::move(retrieved)](
                 Database& db) { return store::mark_retrieved(db, account, retrieved); },
             std::move(done));
}

void SqliteMailStore::expired_mail_accounts(RetentionPolicy defaults, std::int64_t now,
                                            Reply<ExpiredMailboxes> done) {
  read<ExpiredMailboxes>(
      [defaults, now](Database& db) { return accounts_with_expired_mail(db, defaults, now); },
      std::move(done));
}
void SqliteMailStore::purge_expired(RetentionPolicy defaults, std::int64_t now,
                                    std::vector<std::int64_t> accounts, int limit,
                                    Reply<int> done) {
  write<int>([defaults, now, accounts = std::move(accounts), limit](
                 Database& db) { return store::purge_expired(db, defaults, now, accounts, limit); },
             std::move(done), Writer::Kind::frees);
}

void SqliteMailStore::health(std::int64_t now, Reply<StoreHealth> done) {
  write<StoreHealth>([now](Database& db) { return heartbeat(db, now); }, std::move(done));
}

void SqliteMailStore::release_memory() {
  reads_.release_memory();
  writer_.release_memory();
}

bool SqliteMailStore::file_lost() const {
  return writer_.file_lost();
}

std::size_t SqliteMailStore::writes_in_flight() const {
  return writer_.in_flight();
}

void SqliteMailStore::save_outbound_counts(OutboundCounts changes, std::int64_t prune_before,
                                           std::int64_t bucket_seconds, Reply<void> done) {
  write<void>(
      [changes = std::move(changes), prune_before, bucket_seconds](Database& db) {
        return store::save_outbound_counts(db, changes, prune_before, bucket_seconds);
      },
      std::move(done));
}

void SqliteMailStore::notify_postmaster(std::string message, std::vector<std::string> local_domains,
                                        Reply<bool> done) {
  write<bool>(
      [message = std::move(message), local_domains = std::move(local_domains)](Database& db) {
        return store::deliver_to_postmaster(db, message, local_domains);
      },
      std::move(done));
}

}  // namespace postroom::store
