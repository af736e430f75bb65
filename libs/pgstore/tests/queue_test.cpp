// The queue on PostgreSQL: two runners on separate pools never claim the same recipient,
// a claim is leased, and an attempt recorded as delivered removes the message.
#include <doctest/doctest.h>

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

  // Both runners claim in small batches at once until neither finds anything.
  std::multiset<std::int64_t> claimed_recipients;
  std::set<std::string> claimed_messages;
  int duplicates = 0, errors = 0, empty_rounds = 0;
  while (empty_rounds == 0) {
    int answers = 0, found = 0;
    for (PgMailStore* runner : {f.store.get(), &other}) {
      runner->due_messages(now, 4, [&](Result<std::vector<QueuedMessage>> r) {
        ++answers;
        if (!r) {
          ++errors;
          return;
        }
        for (auto& m : *r) {
          ++found;
          if (!claimed_messages.insert(m.queue_id).second) ++duplicates;
          for (auto& rcpt : m.recipients) claimed_recipients.insert(rcpt.row);
        }
      });
    }
    REQUIRE(f.loop.run_until([&] { return answers == 2; }));
    if (found == 0) ++empty_rounds;
  }
  CHECK(errors == 0);
  CHECK(duplicates == 0);
  CHECK(claimed_messages.size() == kMessages);
  CHECK(claimed_recipients.size() == 2 * kMessages);
  CHECK(std::set<std::int64_t>(claimed_recipients.begin(), claimed_recipients.end()).size() ==
        claimed_recipients.size());

  // The lease ends: the recipients are due again later, not now.
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
