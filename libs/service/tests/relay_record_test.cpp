// Recording relay attempts: retry times, expiry, bounces and where a bounce is stored.
#include "../src/relay_record.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>

#include "../../store/tests/put_message.hpp"
#include "../../store/tests/temp_dir.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/queue.hpp"

using namespace postroom;
using namespace postroom::service;
using namespace std::chrono_literals;

namespace {

config::Config test_config() {
  config::Config config;
  config.hostname = "mail.example.test";
  config.domains = {"example.test"};
  config.relay.retry_schedule = {60s, 600s};
  config.relay.max_queue_age = 3600s;
  return config;
}

relay::RecipientResult result(std::string address, relay::Outcome kind, std::string reply,
                              int code) {
  relay::RecipientResult r;
  r.address = std::move(address);
  r.kind = kind;
  r.reply = std::move(reply);
  r.code = code;
  r.status = r.reply.substr(code ? 4 : 0, 5);
  r.remote_host = "mx.remote.test[192.0.2.1]:25";
  return r;
}

constexpr std::int64_t kQueued = 1'700'000'000;

RecordInput input(std::string sender, std::vector<relay::RecipientResult> results,
                  std::int64_t attempts = 0) {
  RecordInput in;
  in.queue_id = "q1";
  in.sender = std::move(sender);
  in.created_at = kQueued;
  for (std::size_t i = 0; i < results.size(); ++i)
    in.rows.push_back({static_cast<std::int64_t>(i + 1), attempts});
  in.results = std::move(results);
  in.headers = "Subject: hello\r\nMessage-ID: <m1@example.test>\r\n";
  return in;
}

relay::Clock::time_point at(std::int64_t seconds) {
  return relay::Clock::time_point(std::chrono::seconds(seconds));
}

bool is_local(std::string_view domain) {
  return domain == "example.test";
}

}  // namespace

TEST_CASE("relay record: delivered, deferred by the schedule, and permanent with a bounce") {
  auto record = decide(
      input("alice@example.test",
            {result("a@remote.test", relay::Outcome::delivered, "250 2.0.0 ok", 250),
             result("b@remote.test", relay::Outcome::temporary, "451 4.3.0 later", 451),
             result("c@remote.test", relay::Outcome::permanent, "550 5.1.1 no such user", 550)}),
      test_config(), at(kQueued + 10));
  REQUIRE(record.recipients.size() == 3);
  CHECK(record.recipients[0].state == store::RecipientState::delivered);
  CHECK(record.recipients[1].state == store::RecipientState::deferred);
  CHECK(record.recipients[1].next_attempt == kQueued + 10 + 60);  // the first interval
  CHECK(record.recipients[2].state == store::RecipientState::bounced);
  REQUIRE(record.bounce);
  CHECK(record.bounce->to == "alice@example.test");
  CHECK(record.bounce->message.find("Final-Recipient: rfc822; c@remote.test") != std::string::npos);
  CHECK(record.bounce->message.find("b@remote.test") == std::string::npos);  // deferred: no notice
  CHECK(record.bounce->message.find("Message-ID: <m1@example.test>") != std::string::npos);
}

TEST_CASE("relay record: the last interval repeats, and past max_queue_age a 4xx bounces") {
  auto later =
      decide(input("alice@example.test",
                   {result("b@remote.test", relay::Outcome::temporary, "451 4.3.0 later", 451)}, 5),
             test_config(), at(kQueued + 100));
  CHECK(later.recipients[0].state == store::RecipientState::deferred);
  CHECK(later.recipients[0].next_attempt == kQueued + 100 + 600);
  CHECK_FALSE(later.bounce);

  auto expired =
      decide(input("alice@example.test",
                   {result("b@remote.test", relay::Outcome::temporary, "451 4.3.0 later", 451)}, 5),
             test_config(), at(kQueued + 3500));
  CHECK(expired.recipients[0].state == store::RecipientState::bounced);
  CHECK(expired.recipients[0].reply.find("max_queue_age") != std::string::npos);
  REQUIRE(expired.bounce);
  CHECK(expired.bounce->message.find("Action: failed") != std::string::npos);
}

TEST_CASE("relay record: a message from the null sender never gets a bounce") {
  auto record = decide(input("", {result("c@remote.test", relay::Outcome::permanent,
                                         "550 5.1.1 no such user", 550)}),
                       test_config(), at(kQueued));
  CHECK(record.recipients[0].state == store::RecipientState::bounced);
  CHECK_FALSE(record.bounce);
}

TEST_CASE(
    "relay record: a local sender's bounce lands in its mailbox, a remote one is queued from <>") {
  TempDir dir;
  auto db = store::Database::open(dir.path / "postroom.db");
  REQUIRE(db);
  auto alice = store::add_account(*db, "alice@example.test", "x");
  REQUIRE(alice);
  auto queued = store::put_message(
      *db, "Return-Path: <alice@example.test>\r\nSubject: s\r\n\r\nb\r\n", {}, store::kChunkSize,
      store::QueueRequest{"alice@example.test", {"c@remote.test", "d@remote.test"}, false, false});
  REQUIRE(queued);
  auto due = store::due_messages(*db, 4'000'000'000, 10);
  REQUIRE(due);
  REQUIRE(due->size() == 1);
  const auto& rows = (*due)[0].recipients;

  auto in =
      input("alice@example.test",
            {result("c@remote.test", relay::Outcome::permanent, "550 5.1.1 no such user", 550),
             result("d@remote.test", relay::Outcome::delivered, "250 ok", 250)});
  in.rows = {{rows[0].row, 0}, {rows[1].row, 0}};
  auto record = decide(in, test_config(), at(kQueued));
  auto stored = store::record_attempts(*db, record, kQueued, is_local);
  REQUIRE(stored);
  CHECK(stored->where == store::BounceStored::Where::mailbox);
  auto queue = store::list_queue(*db);
  REQUIRE(queue);
  CHECK(queue->empty());  // both recipients are done: the message left the queue
  auto mailbox = store::list_mailbox(*db, *alice);
  REQUIRE(mailbox);
  REQUIRE(mailbox->size() == 1);
  auto bounce = store::read_chunk(*db, (*mailbox)[0].content_id, 0);
  REQUIRE(bounce);
  REQUIRE(*bounce);
  CHECK((*bounce)->starts_with("Return-Path: <>\r\n"));
  CHECK((*bounce)->find("Undelivered Mail Returned to Sender") != std::string::npos);

  // A remote sender's bounce goes back out, from the null sender.
  auto remote = decide(
      input("zed@elsewhere.test",
            {result("c@remote.test", relay::Outcome::permanent, "550 5.1.1 no such user", 550)}),
      test_config(), at(kQueued));
  remote.recipients.clear();  // only the bounce is under test here
  stored = store::record_attempts(*db, remote, kQueued, is_local);
  REQUIRE(stored);
  CHECK(stored->where == store::BounceStored::Where::queue);
  queue = store::list_queue(*db);
  REQUIRE(queue->size() == 1);
  CHECK((*queue)[0].recipient == "zed@elsewhere.test");
  auto found = store::find_queued(*db, (*queue)[0].queue_id);
  REQUIRE(found);
  REQUIRE(*found);
  CHECK((*found)->sender == "");
}
