// The PostgreSQL backend of MailStore: each named operation as one unit on the pool, its
// reply on the loop after COMMIT (for reads: after the statements ran).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "postroom/pgstore/pool.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::pgstore {

using namespace postroom::store;

class WriteLanes;

struct PgMailStoreOptions {
  // How long a queue runner owns the recipients it claimed (due_messages) before another
  // daemon may claim them again: longer than any delivery attempt takes.
  std::int64_t queue_lease_seconds = 15 * 60;
  // Names this runner in the leases it takes (postroomd: data_dir/node.id), so that it can
  // give them back when it stops or after a crash.
  std::string node = "postroom";
};

class PgMailStore final : public MailStore {
 public:
  explicit PgMailStore(Pool& pool, PgMailStoreOptions options = {});
  ~PgMailStore() override;

  void resolve_recipient(std::string address, DomainTest is_local_domain,
                         Reply<Route> done) override;
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
  void list_mailbox(std::int64_t account, MailboxVisitor visitor, Reply<std::size_t> done) override;
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
  // This runner's leases made due again now (it stops, or starts after dying mid-delivery);
  // answers how many recipients it gave back.
  void give_back_leases(Reply<int> done);
  void release_memory() override;
  bool file_lost() const override;
  std::size_t writes_in_flight() const override;

 private:
  Pool& pool_;
  PgMailStoreOptions options_;
  // A message's writes (chunks, commit, discard) in submission order, and a maildrop's
  // (UPDATE's deletions, downloads recorded).
  std::unique_ptr<WriteLanes> lanes_;
  std::unique_ptr<WriteLanes> account_lanes_;
  // Shared with the replies in flight: a reply arriving after the store went touches only
  // the counter, never the store.
  std::shared_ptr<std::size_t> writes_in_flight_ = std::make_shared<std::size_t>(0);
  // The queue recipients this runner leased and has not recorded yet: row -> lease end.
  std::shared_ptr<std::map<std::int64_t, std::int64_t>> leases_ =
      std::make_shared<std::map<std::int64_t, std::int64_t>>();
};

}  // namespace postroom::pgstore
