// The queue on PostgreSQL: two runners on separate pools never claim the same recipient,
// a claim is leased, and an attempt recorded as delivered removes the message.
#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>

#include "store_fixture.hpp"

namespace postroom::pgstore {
namespace {

using test::StoreFixture;

TEST_CASE("pgstore: two queue runners never get the same message") {
  StoreFixture f;
  constexpr int kMessages = 30;
  for (int i = 0; i < kMessages; ++i) {
    MessageCommit commit;
    commit.content = new_content_id();
    commit.last_chunk = "Subject: " + std::to_string(i) + "\r\n\r\nhi\r\n";
    commit.summary = {1, commit.last_chunk.size(), commit.last_chunk.size()};
    commit.destination.queue =
        QueueRequest{"alice@example.test", {"x@remote.test", "y@remote.test"}};
    REQUIRE(f.call<StoredMessage>([&](auto reply) { f.store->commit_message(commit, reply); }));
  }
  Pool other_pool(f.loop.get(), f.options());
  PgMailStore other(other_pool);
  auto now = static_cast<std::int64_t>(std::time(nullptr)) + 1;

  // Both runners poll at once, each for up to 20 messages, until a round claims nothing
  // new. Each sees its own claims again on every poll (as a poll of the SQLite store shows
  // a message until its attempt is recorded), never the other's.
  std::map<PgMailStore*, std::set<std::string>> seen;
  std::map<PgMailStore*, std::multiset<std::int64_t>> recipients;
  int errors = 0;
  std::size_t known = 0;
  for (int round = 0; round < 100; ++round) {
    int answers = 0;
    for (PgMailStore* runner : {f.store.get(), &other}) {
      runner->due_messages(now, 20, [&, runner](Result<std::vector<QueuedMessage>> r) {
        ++answers;
        if (!r) {
          ++errors;
          return;
        }
        for (auto& m : *r) {
          seen[runner].insert(m.queue_id);
          for (auto& rcpt : m.recipients) recipients[runner].insert(rcpt.row);
        }
      });
    }
    REQUIRE(f.loop.run_until([&] { return answers == 2; }));
    auto total = seen[f.store.get()].size() + seen[&other].size();
    if (total == known) break;
    known = total;
  }
  CHECK(errors == 0);
  std::vector<std::string> both;
  std::set_intersection(seen[f.store.get()].begin(), seen[f.store.get()].end(),
                        seen[&other].begin(), seen[&other].end(), std::back_inserter(both));
  CHECK(both.empty());
  CHECK(seen[f.store.get()].size() + seen[&other].size() == kMessages);
  CHECK(!seen[f.store.get()].empty());
  CHECK(!seen[&other].empty());
  std::set<std::int64_t> rows;
  for (auto& [runner, r] : recipients) rows.insert(r.begin(), r.end());
  CHECK(rows.size() == 2 * kMessages);

  // A runner's next poll shows what it holds, and only that.
  auto again =
      f.call<std::vector<QueuedMessage>>([&](auto reply) { other.due_messages(now, 100, reply); });
  REQUIRE(again.has_value());
  std::set<std::string> held;
  for (auto& m : *again) held.insert(m.queue_id);
  CHECK(held == seen[&other]);

  // The other runner's leases end (it died, say): the first takes its messages over.
  auto later = f.call<std::vector<QueuedMessage>>(
      [&](auto reply) { f.store->due_messages(now + 16 * 60, 100, reply); });
  REQUIRE(later.has_value());
  CHECK(later->size() == kMessages);
  REQUIRE(!later->empty());

  // One recipient deferred: its attempt is kept, the message stays.
  auto record = [&](const QueuedMessage& m, std::size_t recipients, RecipientState state) {
    AttemptRecord r;
    r.queue_id = m.queue_id;
    for (std::size_t i = 0; i < recipients; ++i)
      r.recipients.push_back(
          {m.recipients[i].row, m.recipients[i].recipient, state, now + 600, "mx", "451 later"});
    return f.call<BounceStored>(
        [&](auto reply) { f.store->record_attempt(r, test::example_domains(), reply); });
  };
  REQUIRE(record(later->back(), 1, RecipientState::deferred).has_value());
  CHECK(f.count("SELECT count(*) FROM queue_history") == 1);
  CHECK(f.count("SELECT count(*) FROM queue") == kMessages);
  // Both recipients of another delivered: that message leaves the queue.
  REQUIRE(record(later->front(), 2, RecipientState::delivered).has_value());
  CHECK(f.count("SELECT count(*) FROM queue") == kMessages - 1);
  CHECK(f.count("SELECT count(*) FROM queue_history") == 1);
  auto chunk = f.call<std::optional<std::string>>(
      [&](auto reply) { f.store->read_chunk(later->back().content_id, 0, reply); });
  REQUIRE(chunk.has_value());
  REQUIRE(chunk->has_value());
  CHECK((*chunk)->starts_with("Subject: "));
}

}  // namespace
}  // namespace postroom::pgstore

namespace postroom::pgstore {
namespace {

TEST_CASE("pgstore: a bounced recipient's report goes to the local sender's mailbox") {
  StoreFixture f;
  MessageCommit commit;
  commit.content = new_content_id();
  commit.last_chunk = "Subject: away\r\n\r\nhi\r\n";
  commit.summary = {1, commit.last_chunk.size(), commit.last_chunk.size()};
  commit.destination.queue = QueueRequest{"alice@example.test", {"x@remote.test"}};
  REQUIRE(f.call<StoredMessage>([&](auto reply) { f.store->commit_message(commit, reply); }));
  auto now = static_cast<std::int64_t>(std::time(nullptr)) + 1;
  auto due = f.call<std::vector<QueuedMessage>>(
      [&](auto reply) { f.store->due_messages(now, 10, reply); });
  REQUIRE(due.has_value());
  REQUIRE(due->size() == 1);
  std::string report(300 * 1024, 'r');  // more than one chunk
  AttemptRecord record;
  record.queue_id = due->front().queue_id;
  record.recipients.push_back({due->front().recipients[0].row, "x@remote.test",
                               RecipientState::bounced, 0, "mx", "550 no such user"});
  record.bounce = Bounce{"Alice@Example.test", report};
  auto stored = f.call<BounceStored>(
      [&](auto reply) { f.store->record_attempt(record, test::example_domains(), reply); });
  REQUIRE(stored.has_value());
  CHECK(stored->where == BounceStored::Where::mailbox);
  CHECK(f.count("SELECT count(*) FROM queue") == 0);
  auto delivery =
      f.count("SELECT id FROM deliveries WHERE account_id = " + std::to_string(f.alice));
  REQUIRE(delivery > 0);
  MessageRead read{f.alice, delivery, 0, 1 << 20, {}, 0};
  auto got = f.call<MessageChunks>([&](auto reply) { f.store->read_message(read, reply); });
  REQUIRE(got.has_value());
  CHECK(got->batch.complete);
  std::string whole;
  for (auto& chunk : got->batch.chunks) whole += chunk;
  CHECK(whole == "Return-Path: <>\r\n" + report);

  // From a sender in another domain: queued from the null sender.
  MessageCommit remote = commit;
  remote.content = new_content_id();
  remote.destination.queue = QueueRequest{"someone@remote.test", {"y@remote.test"}};
  REQUIRE(f.call<StoredMessage>([&](auto reply) { f.store->commit_message(remote, reply); }));
  due = f.call<std::vector<QueuedMessage>>(
      [&](auto reply) { f.store->due_messages(now, 10, reply); });
  REQUIRE(due.has_value());
  REQUIRE(due->size() == 1);
  record.queue_id = due->front().queue_id;
  record.recipients = {{due->front().recipients[0].row, "y@remote.test", RecipientState::bounced, 0,
                        "mx", "550 no"}};
  record.bounce = Bounce{"someone@remote.test", "report\r\n"};
  stored = f.call<BounceStored>(
      [&](auto reply) { f.store->record_attempt(record, test::example_domains(), reply); });
  REQUIRE(stored.has_value());
  CHECK(stored->where == BounceStored::Where::queue);
  CHECK(f.count("SELECT count(*) FROM queue WHERE sender = ''") == 1);
}

}  // namespace
}  // namespace postroom::pgstore
