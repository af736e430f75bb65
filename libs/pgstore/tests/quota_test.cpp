// Quotas on PostgreSQL: the standing the schema's usage triggers keep, and warnings sent
// once per level a day to the mailbox and to its domain's postmaster.
#include <doctest/doctest.h>

#include "store_fixture.hpp"

namespace postroom::pgstore {
namespace {

using test::StoreFixture;

void deliver(StoreFixture& f, std::int64_t account) {
  MessageCommit commit;
  commit.content = new_content_id();
  commit.last_chunk = "Subject: m\r\n\r\nhi\r\n";
  commit.summary = {1, commit.last_chunk.size(), commit.last_chunk.size()};
  commit.destination.accounts = {account};
  REQUIRE(f.call<StoredMessage>([&](auto reply) { f.store->commit_message(commit, reply); }));
}

TEST_CASE("pgstore: quotas report usage and warn the mailbox and the postmaster once") {
  StoreFixture f;
  f.count("INSERT INTO account_quotas (account_id, max_messages) VALUES (" +
          std::to_string(f.alice) + ", 2)");
  f.count("INSERT INTO domain_quotas (domain, max_messages) VALUES ('example.test', 2)");
  f.count(
      "INSERT INTO aliases (alias, target) VALUES ('postmaster@example.test', 'bob@example.test')");
  deliver(f, f.alice);
  deliver(f, f.alice);

  auto quotas = f.call<std::vector<MailboxQuota>>(
      [&](auto reply) { f.store->mailbox_quotas({f.alice}, QuotaDefaults{}, reply); });
  REQUIRE(quotas.has_value());
  REQUIRE(quotas->size() == 1);
  const auto& q = quotas->front();
  CHECK(q.address == "alice@example.test");
  CHECK(q.domain == "example.test");
  CHECK(q.usage.messages == 2);
  CHECK(q.limit.messages == 2);
  CHECK(q.domain_usage.messages == 2);
  CHECK(q.domain_limit.messages == 2);

  ComposeWarning compose = [](const QuotaWarning& w) {
    return "Subject: quota " + w.subject + " " + std::to_string(w.level) + "\r\n\r\nfull\r\n";
  };
  std::vector<std::string> domains{"example.test"};
  auto sent = f.call<int>([&](auto reply) {
    f.store->quota_warnings({f.alice}, QuotaDefaults{}, domains, compose, reply);
  });
  REQUIRE(sent.has_value());
  CHECK(*sent == 2);
  CHECK(f.count("SELECT count(*) FROM deliveries WHERE account_id = " + std::to_string(f.alice)) ==
        3);
  CHECK(f.count("SELECT count(*) FROM deliveries WHERE account_id = " + std::to_string(f.bob)) ==
        1);
  CHECK(f.count("SELECT count(*) FROM quota_warnings") == 4);  // 80 and 95, for both subjects
  auto again = f.call<int>([&](auto reply) {
    f.store->quota_warnings({f.alice}, QuotaDefaults{}, domains, compose, reply);
  });
  REQUIRE(again.has_value());
  CHECK(*again == 0);
}

}  // namespace
}  // namespace postroom::pgstore
