// Quotas: usage kept by the schema's triggers, settings and defaults, RCPT verdicts, warnings.
#include "postroom/store/quotas.hpp"

#include <doctest/doctest.h>

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/verify.hpp"
#include "put_message.hpp"
#include "temp_dir.hpp"

using namespace postroom;
using namespace postroom::store;

namespace {

constexpr std::int64_t kNow = 1'790'000'000;
const std::vector<std::string> kDomains{"example.test", "other.test"};

Usage usage_of(Database& db, std::int64_t account) {
  auto u = mailbox_usage(db, account);
  REQUIRE(u);
  return *u;
}

// What the mailbox really holds, counted the slow way.
Usage counted(Database& db, std::int64_t account) {
  auto box = list_mailbox(db, account);
  REQUIRE(box);
  Usage u;
  for (const auto& m : *box) {
    ++u.messages;
    u.bytes += static_cast<std::int64_t>(m.pop3_size);
  }
  return u;
}

std::string compose(const QuotaWarning& w) {
  return "Subject: quota " + std::to_string(w.level) + " " + w.subject + "\r\n\r\nfull\r\n";
}

MailboxQuota quota_of(Database& db, std::int64_t account, const QuotaDefaults& defaults = {}) {
  auto q = mailbox_quotas(db, {account}, defaults);
  REQUIRE(q);
  REQUIRE(q->size() == 1);
  return q->front();
}

// The subjects of the warnings in a mailbox, in order.
std::vector<std::string> warnings_in(Database& db, std::int64_t account) {
  std::vector<std::string> out;
  auto box = list_mailbox(db, account);
  REQUIRE(box);
  for (const auto& m : *box) {
    auto chunk = read_chunk(db, m.content_id, 0);
    REQUIRE(chunk);
    REQUIRE(*chunk);
    const std::string field = "Subject: quota ";
    auto at = (*chunk)->find(field);
    if (at == std::string::npos) continue;
    auto start = at + field.size();
    out.push_back((*chunk)->substr(start, (*chunk)->find("\r\n", start) - start));
  }
  return out;
}

}  // namespace

TEST_CASE("quota usage: counters follow deliveries, shared contents and POP3 deletions") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  auto bob = add_account(*db, "bob@example.test", "h");
  REQUIRE(alice);
  REQUIRE(bob);
  CHECK(usage_of(*db, *alice).messages == 0);
  CHECK(usage_of(*db, *alice).bytes == 0);

  // Bare LFs count as CRLF, as POP3 sends them: 6 + 2 octets.
  REQUIRE(put_message(*db, "a\nbc\n", {*alice, *bob}, 2));
  REQUIRE(put_message(*db, std::string(1000, 'x') + "\r\n", {*alice}));
  CHECK(usage_of(*db, *alice).messages == 2);
  CHECK(usage_of(*db, *alice).bytes == 7 + 1002);
  CHECK(usage_of(*db, *bob).bytes == 7);

  // Bob's copy goes first: the content stays for Alice; then Alice's, which releases it.
  auto bob_box = list_mailbox(*db, *bob);
  REQUIRE(bob_box);
  REQUIRE(delete_deliveries(*db, *bob, {(*bob_box)[0].delivery_id}));
  CHECK(usage_of(*db, *bob).messages == 0);
  CHECK(usage_of(*db, *bob).bytes == 0);
  auto alice_box = list_mailbox(*db, *alice);
  REQUIRE(alice_box);
  REQUIRE(delete_deliveries(*db, *alice, {(*alice_box)[0].delivery_id}));
  CHECK(usage_of(*db, *alice).messages == counted(*db, *alice).messages);
  CHECK(usage_of(*db, *alice).bytes == counted(*db, *alice).bytes);
  CHECK(usage_of(*db, *alice).bytes == 1002);

  // The counters agree with `postroom user list`'s numbers.
  auto listed = list_accounts(*db);
  REQUIRE(listed);
  for (const auto& a : *listed) {
    auto found = find_account(*db, a.address);
    REQUIRE(found);
    REQUIRE(*found);
    CHECK(usage_of(*db, (**found).id).messages == a.messages);
    CHECK(usage_of(*db, (**found).id).bytes == a.bytes);
  }
}

TEST_CASE("quota usage: a rolled-back delivery leaves the counters as they were") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  REQUIRE(alice);
  REQUIRE(put_message(*db, "one\r\n", {*alice}));
  {
    auto tx = Transaction::begin(*db);
    REQUIRE(tx);
    REQUIRE(put_message(*db, "two\r\n", {*alice}));
    CHECK(usage_of(*db, *alice).messages == 2);
    // Dropped without commit: the delivery and its counting go together.
  }
  CHECK(usage_of(*db, *alice).messages == 1);
  CHECK(usage_of(*db, *alice).bytes == 5);
}

TEST_CASE("quota usage: deleting a mailbox in batches counts down and drops its row") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  REQUIRE(alice);
  for (int i = 0; i < 150; ++i) REQUIRE(put_message(*db, "m\r\n", {*alice}));
  CHECK(usage_of(*db, *alice).messages == 150);
  REQUIRE(set_account_quota(*db, *alice, {100, 10}));
  auto removed = delete_account(*db, "alice@example.test");
  REQUIRE(removed);
  CHECK(*removed == 150);
  auto rows = db->prepare("SELECT count(*) FROM mailbox_usage WHERE account_id = ?");
  REQUIRE(rows);
  rows->bind(1, *alice);
  REQUIRE(rows->step());
  CHECK(rows->column_int(0) == 0);
  auto settings = account_quota(*db, *alice);
  REQUIRE(settings);
  CHECK_FALSE(settings->bytes);  // the setting went with the mailbox
}

TEST_CASE("quota settings: the admin's value, else the default; 0 is unlimited") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  auto bob = add_account(*db, "bob@example.test", "h");
  REQUIRE(alice);
  REQUIRE(bob);
  QuotaDefaults defaults;
  defaults.user = {1000, std::nullopt};

  REQUIRE(set_account_quota(*db, *alice, {std::nullopt, 5}));
  auto q = quota_of(*db, *alice, defaults);
  CHECK(q.limit.bytes == std::optional<std::int64_t>(1000));  // the default
  CHECK(q.limit.messages == std::optional<std::int64_t>(5));
  CHECK_FALSE(q.domain_limit.any());

  REQUIRE(set_account_quota(*db, *alice, {0, 5}));  // unlimited despite the default
  CHECK_FALSE(quota_of(*db, *alice, defaults).limit.bytes);
  REQUIRE(set_account_quota(*db, *alice, {}));  // cleared: back to the default
  CHECK(quota_of(*db, *alice, defaults).limit.bytes == std::optional<std::int64_t>(1000));
  CHECK_FALSE(quota_of(*db, *alice, defaults).limit.messages);

  auto limits = mailbox_limits(*db, defaults);
  REQUIRE(limits);
  CHECK(limits->at("bob@example.test").bytes == std::optional<std::int64_t>(1000));

  REQUIRE(set_domain_quota(*db, "example.test", {std::nullopt, 3}));
  auto d = domain_quota(*db, "example.test");
  REQUIRE(d);
  CHECK(d->messages == std::optional<std::int64_t>(3));
  CHECK(quota_of(*db, *bob, defaults).domain_limit.messages == std::optional<std::int64_t>(3));
  REQUIRE(set_domain_quota(*db, "example.test", {}));
  CHECK_FALSE(quota_of(*db, *bob, defaults).domain_limit.any());
}

TEST_CASE("quota usage: a domain counts its own mailboxes only") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto a = add_account(*db, "a@example.test", "h");
  auto b = add_account(*db, "b@example.test", "h");
  auto c = add_account(*db, "c@sub.example.test", "h");
  auto d = add_account(*db, "d@xexample.test", "h");
  for (auto id : {*a, *b, *c, *d}) REQUIRE(put_message(*db, "12345678\r\n", {id}));
  auto u = domain_usage(*db, "example.test");
  REQUIRE(u);
  CHECK(u->messages == 2);
  CHECK(u->bytes == 20);
}

TEST_CASE("quota verdicts: refused at or over a limit, or when the declared size cannot fit") {
  MailboxQuota q;
  q.usage = {9, 900};
  q.limit = {1000, 10};
  CHECK(check_quota(q, std::nullopt).kind == QuotaVerdict::Kind::ok);
  CHECK(check_quota(q, 100).kind == QuotaVerdict::Kind::ok);
  CHECK(check_quota(q, 101).kind == QuotaVerdict::Kind::full);
  CHECK(check_quota(q, 1001).kind == QuotaVerdict::Kind::too_big);
  q.usage = {10, 10};
  CHECK(check_quota(q, std::nullopt).kind == QuotaVerdict::Kind::full);  // messages
  q.usage = {1, 1000};
  CHECK(check_quota(q, std::nullopt).kind == QuotaVerdict::Kind::full);  // bytes, at the limit
  q.usage = {1, 999};
  CHECK(check_quota(q, std::nullopt).kind == QuotaVerdict::Kind::ok);  // may overshoot alone

  q.usage = {0, 0};
  q.domain_usage = {50, 5000};
  q.domain_limit = {std::nullopt, 50};
  auto v = check_quota(q, std::nullopt);
  CHECK(v.kind == QuotaVerdict::Kind::full);
  CHECK(v.domain);
  q.domain_limit = {};
  CHECK(check_quota(q, 5).kind == QuotaVerdict::Kind::ok);
}

TEST_CASE("quota warnings: 80 and 95 percent, once a day per level, the higher counting for both") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  REQUIRE(alice);
  REQUIRE(set_account_quota(*db, *alice, {std::nullopt, 100}));
  auto fill_to = [&](int messages) {
    while (usage_of(*db, *alice).messages < messages) REQUIRE(put_message(*db, "m\r\n", {*alice}));
  };
  auto warn = [&](std::int64_t at) {
    auto sent = send_quota_warnings(*db, {*alice}, {}, at, kDomains, compose);
    REQUIRE(sent);
    return *sent;
  };

  fill_to(79);
  CHECK(warn(kNow) == 0);
  fill_to(80);
  CHECK(warn(kNow) == 1);
  CHECK(warnings_in(*db, *alice) == std::vector<std::string>{"80 alice@example.test"});
  // The warning is mail like any other: 81 messages now.
  CHECK(usage_of(*db, *alice).messages == 81);
  CHECK(warn(kNow + 60) == 0);

  // Below the level and over it again the same day: no second warning.
  auto box = list_mailbox(*db, *alice);
  REQUIRE(box);
  std::vector<std::int64_t> some;
  for (int i = 0; i < 10; ++i) some.push_back((*box)[i].delivery_id);
  REQUIRE(delete_deliveries(*db, *alice, some));
  CHECK(warn(kNow + 120) == 0);
  fill_to(85);
  CHECK(warn(kNow + 180) == 0);

  fill_to(95);
  CHECK(warn(kNow + 240) == 1);
  CHECK(warn(kNow + 300) == 0);
  // A day later, still over: a reminder of the level reached now.
  CHECK(warn(kNow + 86400 + 240) == 1);
  auto subjects = warnings_in(*db, *alice);
  REQUIRE(subjects.size() == 3);
  CHECK(subjects[1] == "95 alice@example.test");
  CHECK(subjects[2] == "95 alice@example.test");
}

TEST_CASE("quota warnings: straight past 95 percent gives one warning, not two") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  REQUIRE(alice);
  REQUIRE(set_account_quota(*db, *alice, {100, std::nullopt}));
  REQUIRE(put_message(*db, std::string(96, 'x'), {*alice}));
  auto sent = send_quota_warnings(*db, {*alice}, {}, kNow, kDomains, compose);
  REQUIRE(sent);
  CHECK(*sent == 1);
  sent = send_quota_warnings(*db, {*alice}, {}, kNow + 1, kDomains, compose);
  REQUIRE(sent);
  CHECK(*sent == 0);
  CHECK(warnings_in(*db, *alice) == std::vector<std::string>{"95 alice@example.test"});
}

TEST_CASE("quota warnings: a domain's go to its postmaster, a mailbox without a limit gets none") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  auto pm = add_account(*db, "postmaster@example.test", "h");
  REQUIRE(alice);
  REQUIRE(pm);
  QuotaDefaults defaults;
  defaults.domain = {std::nullopt, 10};
  for (int i = 0; i < 8; ++i) REQUIRE(put_message(*db, "m\r\n", {*alice}));
  auto sent = send_quota_warnings(*db, {*alice}, defaults, kNow, kDomains, compose);
  REQUIRE(sent);
  CHECK(*sent == 1);
  CHECK(warnings_in(*db, *alice).empty());
  CHECK(warnings_in(*db, *pm) == std::vector<std::string>{"80 example.test"});
  sent = send_quota_warnings(*db, {*alice}, defaults, kNow + 5, kDomains, compose);
  REQUIRE(sent);
  CHECK(*sent == 0);
}

TEST_CASE("quota usage: postroom verify reports a counter out of step with the mailbox") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "h");
  REQUIRE(alice);
  REQUIRE(put_message(*db, "m\r\n", {*alice}));
  auto clean = verify_store(*db);
  REQUIRE(clean);
  CHECK(clean->problems.empty());
  REQUIRE(db->exec("UPDATE mailbox_usage SET bytes = bytes + 1"));
  auto drifted = verify_store(*db);
  REQUIRE(drifted);
  REQUIRE(drifted->problems.size() == 1);
  CHECK(drifted->problems[0].find("alice@example.test") != std::string::npos);
}
