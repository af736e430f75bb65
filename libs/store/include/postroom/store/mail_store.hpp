// The store as the servers use it: named operations, each answered once on the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/store/access_rules.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/devices.hpp"
#include "postroom/store/greylist.hpp"
#include "postroom/store/health.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/outbound_counts.hpp"
#include "postroom/store/queue.hpp"
#include "postroom/store/quotas.hpp"
#include "postroom/store/recipient_facts.hpp"
#include "postroom/store/retention.hpp"
#include "postroom/store/vacation.hpp"
#include "postroom/store/writer.hpp"

namespace postroom::store {

template <class T>
using Reply = std::function<void(Result<T>)>;

// The last step of a message write: its last chunk, what the whole message must be, and
// where it goes, committed in the transaction that allows the acknowledgement.
struct MessageCommit {
  ContentId content = 0;
  // Chunk 0 when it is written here rather than by append_chunk: the header section, which
  // filters may edit until the end.
  std::optional<std::string> head;
  std::int64_t last_seq = 0;
  std::string last_chunk;  // may be empty
  ContentSummary summary;  // what every chunk together must add up to
  Destination destination;
};

// A POP3 read of one of an account's deliveries: chunks from `first_seq` on, and whole
// messages (deliveries) after it when the read reaches its end (read-ahead, within
// `ahead_budget` bytes).
struct MessageRead {
  std::int64_t account = 0;
  std::int64_t delivery = 0;
  std::int64_t first_seq = 0;
  std::size_t max_bytes = 0;
  std::vector<std::int64_t> ahead;
  std::size_t ahead_budget = 0;
};
struct MessageChunks {
  ChunkBatch batch;
  WholeMessages ahead;  // by delivery id
};

// The seam between the servers and a store backend. Every reply runs on the loop thread,
// exactly once, after the work is done (for writes: after it is durable); a reply with
// an error means nothing of that operation was kept. Writes run in submission order.
class MailStore {
 public:
  virtual ~MailStore() = default;

  // Accounts and routing.
  virtual void resolve_recipient(std::string address, DomainTest is_local_domain,
                                 Reply<Route> done) = 0;
  // An RCPT's route, quotas and away flag (recipient_facts.hpp). This default asks
  // resolve_recipient (per lookup_order) and then mailbox_quotas, and leaves may_be_away set;
  // a backend may answer all of it in one round trip.
  virtual void recipient_facts(Address recipient, std::vector<std::string> local_domains,
                               QuotaDefaults defaults, Reply<RecipientFacts> done);
  virtual void find_account(std::string address, Reply<std::optional<Account>> done) = 0;
  virtual void sender_addresses(std::string address, Reply<std::vector<std::string>> done) = 0;
  // Per-device passwords: the device a login names (store::find_device), and its last use
  // recorded through the writer.
  virtual void find_device(std::int64_t account, std::string selector,
                           Reply<std::optional<Device>> done) = 0;
  virtual void record_device_use(std::int64_t device, std::int64_t at, std::string ip,
                                 Reply<void> done) = 0;

  // Writing a message in chunks: the first chunk written (`first`: chunk 0, or 1 when chunk
  // 0 comes with the commit as its `head`) creates the content, commit_message seals it
  // (see commit_content: a chunk lost on the way fails the commit).
  virtual void append_chunk(ContentId content, std::int64_t seq, bool first, std::string bytes,
                            Reply<void> done) = 0;
  virtual void commit_message(MessageCommit commit, Reply<StoredMessage> done) = 0;
  // Drops what was written of a message that will not be committed.
  virtual void discard_message(ContentId content) = 0;

  // POP3.
  // `each` runs on a pool thread, once per message in order, before `done` on the loop.
  virtual void list_mailbox(std::int64_t account, MailboxVisitor each, Reply<std::size_t> done) = 0;
  virtual void read_message(MessageRead read, Reply<MessageChunks> done) = 0;
  virtual void delete_deliveries(std::int64_t account, std::vector<std::int64_t> delivery_ids,
                                 Reply<int> done) = 0;

  // The outbound queue.
  virtual void due_messages(std::int64_t now, int limit,
                            Reply<std::vector<QueuedMessage>> done) = 0;
  virtual void read_chunk(ContentId content, std::int64_t seq,
                          Reply<std::optional<std::string>> done) = 0;
  virtual void record_attempt(AttemptRecord record, DomainTest is_local_domain,
                              Reply<BounceStored> done) = 0;

  // Outbound limits: the counters' changes (see save_outbound_counts), and a notice for
  // the postmaster (answers false when there is none).
  virtual void save_outbound_counts(OutboundCounts changes, std::int64_t prune_before,
                                    std::int64_t bucket_seconds, Reply<void> done) = 0;
  virtual void notify_postmaster(std::string message, std::vector<std::string> local_domains,
                                 Reply<bool> done) = 0;

  // Quotas (quotas.hpp): the standing of each mailbox (a read), and the warnings due after a
  // delivery to them (send_quota_warnings, as one write job; answers how many went out).
  virtual void mailbox_quotas(std::vector<std::int64_t> accounts, QuotaDefaults defaults,
                              Reply<std::vector<MailboxQuota>> done) = 0;
  virtual void quota_warnings(std::vector<std::int64_t> accounts, QuotaDefaults defaults,
                              std::vector<std::string> local_domains, ComposeWarning compose,
                              Reply<int> done) = 0;

  // Greylisting: does this attempt pass (greylist_check, as one write job)?
  virtual void greylist(GreylistTriplet triplet, std::int64_t now, std::int64_t window,
                        std::int64_t forget, Reply<bool> done) = 0;
  virtual void purge_greylist(std::int64_t unretried_before, std::int64_t passed_before,
                              Reply<int> done) = 0;
  // Away replies (vacation.hpp): the settings of the mailboxes a message reached, and a
  // reply sent unless this sender got one within the interval (decided in the write).
  virtual void vacations_for(std::vector<std::int64_t> accounts, std::string sender,
                             Reply<std::vector<VacationCandidate>> done) = 0;
  virtual void send_vacation_reply(VacationReply reply, DomainTest is_local_domain,
                                   Reply<VacationOutcome> done) = 0;
  // Retention (retention.hpp): the domain and user settings; a POP3 session's first whole
  // downloads, as (delivery, time); the accounts with expired mail (a read); and their purge,
  // while the caller holds their maildrop locks.
  virtual void retention_settings(Reply<std::vector<RetentionSetting>> done) = 0;
  virtual void mark_retrieved(std::int64_t account,
                              std::vector<std::pair<std::int64_t, std::int64_t>> retrieved,
                              Reply<int> done) = 0;
  virtual void expired_mail_accounts(RetentionPolicy defaults, std::int64_t now,
                                     Reply<ExpiredMailboxes> done) = 0;
  virtual void purge_expired(RetentionPolicy defaults, std::int64_t now,
                             std::vector<std::int64_t> accounts, int limit, Reply<int> done) = 0;
  // Read at start and refreshed: the outbound limit counters from `since` on
  // (outbound_counts.hpp), and the allow and block lists (access_rules.hpp).
  virtual void outbound_counts(std::int64_t since, std::int64_t bucket_seconds,
                               Reply<OutboundCounts> done) = 0;
  virtual void access_rules(Reply<std::vector<AccessRule>> done) = 0;
  // /healthz: a heartbeat write through the writer, and the queue's depth (store::heartbeat).
  virtual void health(std::int64_t now, Reply<StoreHealth> done) = 0;
  // Housekeeping: uncommitted contents older than `created_before` (writers that died).
  virtual void sweep_abandoned(std::int64_t created_before, Reply<int> done) = 0;
  // Gives cached pages back (the daemon is idle).
  virtual void release_memory() = 0;
  // The database file was found removed or replaced: nothing is acknowledged.
  virtual bool file_lost() const = 0;
  virtual std::size_t writes_in_flight() const = 0;
};

// SQLite: writes through the group-commit Writer, reads on a thread pool that the owner
// provides (`run_on_pool(work, after)`: `work` on a pool thread, `after` on the loop).
class SqliteMailStore final : public MailStore {
 public:
  using PoolRunner = std::function<void(std::function<void()> work, std::function<void()> after)>;

  SqliteMailStore(Writer& writer, ReadPool& reads, PoolRunner run_on_pool);

  void resolve_recipient(std::string address, DomainTest is_local_domain,
                         Reply<Route> done) override;
  void recipient_facts(Address recipient, std::vector<std::string> local_domains,
                       QuotaDefaults defaults, Reply<RecipientFacts> done) override;
  void find_account(std::string address, Reply<std::optional<Account>> done) override;
  void sender_addresses(std::string address, Reply<std::vector<std::string>> done) override;
  void find_device(std::int64_t account, std::string selector,
                   Reply<std::optional<Device>> done) override;
  void record_device_use(std::int64_t device, std::int64_t at, std::string ip,
                         Reply<void> done) override;
  void append_chunk(ContentId content, std::int64_t seq, bool first, std::string bytes,
                    Reply<void> done) override;
  void commit_message(MessageCommit commit, Reply<StoredMessage> done) override;
  void discard_message(ContentId content) override;
  void list_mailbox(std::int64_t account, MailboxVisitor each, Reply<std::size_t> done) override;
  void read_message(MessageRead read, Reply<MessageChunks> done) override;
  void delete_deliveries(std::int64_t account, std::vector<std::int64_t> delivery_ids,
                         Reply<int> done) override;
  void due_messages(std::int64_t now, int limit, Reply<std::vector<QueuedMessage>> done) override;
  void read_chunk(ContentId content, std::int64_t seq,
                  Reply<std::optional<std::string>> done) override;
  void record_attempt(AttemptRecord record, DomainTest is_local_domain,
                      Reply<BounceStored> done) override;
  void save_outbound_counts(OutboundCounts changes, std::int64_t prune_before,
                            std::int64_t bucket_seconds, Reply<void> done) override;
  void notify_postmaster(std::string message, std::vector<std::string> local_domains,
                         Reply<bool> done) override;
  void mailbox_quotas(std::vector<std::int64_t> accounts, QuotaDefaults defaults,
                      Reply<std::vector<MailboxQuota>> done) override;
  void quota_warnings(std::vector<std::int64_t> accounts, QuotaDefaults defaults,
                      std::vector<std::string> local_domains, ComposeWarning compose,
                      Reply<int> done) override;
  void greylist(GreylistTriplet triplet, std::int64_t now, std::int64_t window, std::int64_t forget,
                Reply<bool> done) override;
  void purge_greylist(std::int64_t unretried_before, std::int64_t passed_before,
                      Reply<int> done) override;
  void vacations_for(std::vector<std::int64_t> accounts, std::string sender,
                     Reply<std::vector<VacationCandidate>> done) override;
  void send_vacation_reply(VacationReply reply, DomainTest is_local_domain,
                           Reply<VacationOutcome> done) override;
  void retention_settings(Reply<std::vector<RetentionSetting>> done) override;
  void outbound_counts(std::int64_t since, std::int64_t bucket_seconds,
                       Reply<OutboundCounts> done) override;
  void access_rules(Reply<std::vector<AccessRule>> done) override;
  void mark_retrieved(std::int64_t account,
                      std::vector<std::pair<std::int64_t, std::int64_t>> retrieved,
                      Reply<int> done) override;
  void expired_mail_accounts(RetentionPolicy defaults, std::int64_t now,
                             Reply<ExpiredMailboxes> done) override;
  void purge_expired(RetentionPolicy defaults, std::int64_t now, std::vector<std::int64_t> accounts,
                     int limit, Reply<int> done) override;
  void health(std::int64_t now, Reply<StoreHealth> done) override;
  void sweep_abandoned(std::int64_t created_before, Reply<int> done) override;
  void release_memory() override;
  bool file_lost() const override;
  std::size_t writes_in_flight() const override;

 private:
  template <class T>
  void read(std::function<Result<T>(Database&)> work, Reply<T> done);
  template <class T>
  void write(std::function<Result<T>(Database&)> work, Reply<T> done,
             Writer::Kind kind = Writer::Kind::adds);

  Writer& writer_;
  ReadPool& reads_;
  PoolRunner run_on_pool_;
};

}  // namespace postroom::store
