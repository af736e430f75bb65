// The PostgreSQL store's delivery and POP3 paths: routing, a message written in chunks to
// two mailboxes and read back by chunks, a commit missing a chunk, UPDATE's deletions.
#include <doctest/doctest.h>

#include "store_fixture.hpp"

namespace postroom::pgstore {
namespace {

using test::StoreFixture;

std::string pattern(std::size_t size, char seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>(seed + i % 23);
  return s;
}

TEST_CASE("pgstore: an alias routes to both mailboxes and a remote address") {
  StoreFixture f;
  auto route = f.call<Route>([&](auto reply) {
    f.store->resolve_recipient("both@example.test", test::example_domains(), reply);
  });
  REQUIRE(route.has_value());
  CHECK(route->kind == Route::Kind::local);
  CHECK(route->accounts == std::vector<std::int64_t>{f.alice, f.bob});
  CHECK(route->remote == std::vector<std::string>{"carol@remote.test"});
  auto unknown = f.call<Route>([&](auto reply) {
    f.store->resolve_recipient("nobody@example.test", test::example_domains(), reply);
  });
  REQUIRE(unknown.has_value());
  CHECK(unknown->kind == Route::Kind::unknown);
  auto senders = f.call<std::vector<std::string>>(
      [&](auto reply) { f.store->sender_addresses("alice@example.test", reply); });
  REQUIRE(senders.has_value());
  CHECK(*senders == std::vector<std::string>{"alice@example.test", "both@example.test"});
  auto account = f.call<std::optional<Account>>(
      [&](auto reply) { f.store->find_account("bob@example.test", reply); });
  REQUIRE(account.has_value());
  REQUIRE(account->has_value());
  CHECK((*account)->id == f.bob);
}

TEST_CASE("pgstore: a message delivered to two mailboxes reads back by chunks") {
  StoreFixture f;
  std::string head = "Subject: chunks\r\n\r\n";
  std::string body1 = pattern(kChunkSize, 'a'), body2 = pattern(1000, 'A');
  ContentId id = new_content_id();
  REQUIRE(f.call<void>([&](auto reply) { f.store->append_chunk(id, 1, true, body1, reply); }));
  MessageCommit commit;
  commit.content = id;
  commit.head = head;
  commit.last_seq = 2;
  commit.last_chunk = body2;
  SizeCounter sizes;
  sizes.add(head + body1 + body2);
  commit.summary = {3, sizes.size(), sizes.pop3_size()};
  commit.destination.accounts = {f.alice, f.bob};
  auto stored = f.call<StoredMessage>([&](auto reply) { f.store->commit_message(commit, reply); });
  REQUIRE(stored.has_value());
  CHECK(stored->content_id == id);
  CHECK(stored->queue_id.empty());

  for (auto account : {f.alice, f.bob}) {
    std::vector<std::pair<std::int64_t, std::uint64_t>> listed;
    std::size_t announced = 0, uidl_bytes = 0, seen_bytes = 0;
    auto n = f.call<std::size_t>([&](auto reply) {
      f.store->list_mailbox(
          account,
          {.expect =
               [&](std::size_t messages, std::size_t bytes) {
                 announced = messages;
                 uidl_bytes = bytes;
               },
           .each =
               [&](std::int64_t delivery, std::uint64_t size, std::string_view uidl) {
                 listed.emplace_back(delivery, size);
                 seen_bytes += uidl.size();
                 // seconds in base 32, then randomness
                 CHECK(uidl.size() > 7);
               }},
          reply);
    });
    REQUIRE(n.has_value());
    REQUIRE(*n == 1);
    CHECK(announced == 1);
    CHECK(uidl_bytes == seen_bytes);
    CHECK(listed[0].second == sizes.pop3_size());
    // Small reads: one chunk each until the last.
    std::string whole;
    std::int64_t seq = 0;
    int reads = 0;
    while (true) {
      MessageRead read{account, listed[0].first, seq, 1, {}, 0};
      auto got = f.call<MessageChunks>([&](auto reply) { f.store->read_message(read, reply); });
      REQUIRE(got.has_value());
      REQUIRE(got->batch.chunks.size() == 1);
      whole += got->batch.chunks[0];
      ++seq;
      ++reads;
      if (got->batch.complete) break;
      REQUIRE(reads < 5);
    }
    CHECK(reads == 3);
    CHECK(whole == head + body1 + body2);
  }
  // Another account's delivery is not readable through this one.
  MessageRead wrong{f.alice, 0, 0, 1 << 20, {}, 0};
  auto gone = f.call<MessageChunks>([&](auto reply) { f.store->read_message(wrong, reply); });
  CHECK(!gone.has_value());
}

TEST_CASE("pgstore: a commit missing a chunk fails and keeps nothing") {
  StoreFixture f;
  ContentId id = new_content_id();
  REQUIRE(f.call<void>(
      [&](auto reply) { f.store->append_chunk(id, 0, true, pattern(kChunkSize, 'x'), reply); }));
  // Chunk 1 was lost on the way; the commit brings chunk 2.
  MessageCommit commit;
  commit.content = id;
  commit.last_seq = 2;
  commit.last_chunk = "tail\r\n";
  commit.summary = {3, 2 * kChunkSize + 6, 2 * kChunkSize + 6};
  commit.destination.accounts = {f.alice};
  commit.destination.queue = QueueRequest{"sender@example.test", {"carol@remote.test"}};
  auto stored = f.call<StoredMessage>([&](auto reply) { f.store->commit_message(commit, reply); });
  REQUIRE(!stored.has_value());
  CHECK(stored.error().message.find("incomplete") != std::string::npos);
  CHECK(f.count("SELECT count(*) FROM deliveries") == 0);
  CHECK(f.count("SELECT count(*) FROM queue") == 0);
  CHECK(f.count("SELECT count(*) FROM content_chunks WHERE seq = 2") == 0);
  CHECK(f.count("SELECT count(*) FROM contents WHERE complete = 1") == 0);
  // What the session wrote before is dropped by its discard.
  f.store->discard_message(id);
  f.loop.run_until([&] { return f.count("SELECT count(*) FROM contents") == 0; }, 10);
  CHECK(f.count("SELECT count(*) FROM contents") == 0);
  CHECK(f.count("SELECT count(*) FROM content_chunks") == 0);
}

TEST_CASE("pgstore: UPDATE deletes one mailbox's delivery, not the other's") {
  StoreFixture f;
  ContentId id = new_content_id();
  MessageCommit commit;
  commit.content = id;
  commit.last_seq = 0;
  commit.last_chunk = "Subject: x\r\n\r\nhello\r\n";
  commit.summary = {1, commit.last_chunk.size(), commit.last_chunk.size()};
  commit.destination.accounts = {f.alice, f.bob};
  REQUIRE(f.call<StoredMessage>([&](auto reply) { f.store->commit_message(commit, reply); }));
  auto alices = f.count("SELECT id FROM deliveries WHERE account_id = " + std::to_string(f.alice));
  auto bobs = f.count("SELECT id FROM deliveries WHERE account_id = " + std::to_string(f.bob));
  // Bob's delivery id through Alice's maildrop deletes nothing.
  auto none = f.call<int>([&](auto reply) { f.store->delete_deliveries(f.alice, {bobs}, reply); });
  REQUIRE(none.has_value());
  CHECK(*none == 0);
  auto one = f.call<int>([&](auto reply) { f.store->delete_deliveries(f.alice, {alices}, reply); });
  REQUIRE(one.has_value());
  CHECK(*one == 1);
  CHECK(f.count("SELECT count(*) FROM deliveries") == 1);
  CHECK(f.count("SELECT count(*) FROM contents") == 1);
  REQUIRE(f.call<int>([&](auto reply) { f.store->delete_deliveries(f.bob, {bobs}, reply); }));
  // The last reference gone, the content goes with it.
  CHECK(f.count("SELECT count(*) FROM contents") == 0);
  CHECK(f.count("SELECT count(*) FROM content_chunks") == 0);
}

}  // namespace
}  // namespace postroom::pgstore

namespace postroom::pgstore {
namespace {

TEST_CASE("pgstore: with the database unreachable a message is refused for now, not lost") {
  test::Loop loop;
  PoolOptions o;
  o.conninfo = "host=127.0.0.1 port=1 dbname=postgres user=postroom";  // nothing listens
  Pool pool(loop.get(), o);
  PgMailStore store(pool);
  MessageCommit commit;
  commit.content = new_content_id();
  commit.last_chunk = "Subject: x\r\n\r\nhi\r\n";
  commit.summary = {1, commit.last_chunk.size(), commit.last_chunk.size()};
  std::optional<Result<StoredMessage>> out;
  store.commit_message(commit, [&](Result<StoredMessage> r) { out = std::move(r); });
  REQUIRE(loop.run_until([&] { return out.has_value(); }));
  REQUIRE(!out->has_value());
  CHECK(out->error().message.find("connection lost") != std::string::npos);
  CHECK(store.writes_in_flight() == 0);
}

}  // namespace
}  // namespace postroom::pgstore

namespace postroom::pgstore {
namespace {

TEST_CASE("pgstore: a message's writes run in submission order without waiting for replies") {
  // As a session writes: chunk after chunk and the commit right behind them, each submitted
  // before the previous one was answered, on a pool of four connections.
  test::StoreFixture f;
  auto options = f.options();
  options.connections = 4;
  Pool pool(f.loop.get(), options);
  PgMailStore store(pool);
  std::vector<std::string> chunks;
  for (int i = 0; i < 6; ++i) chunks.push_back(pattern(kChunkSize, static_cast<char>('a' + i)));
  ContentId id = new_content_id();
  int chunk_answers = 0, chunk_errors = 0;
  for (std::int64_t seq = 1; seq <= 6; ++seq)
    store.append_chunk(id, seq, seq == 1, chunks[seq - 1], [&](Result<void> r) {
      ++chunk_answers;
      if (!r) ++chunk_errors;
    });
  MessageCommit commit;
  commit.content = id;
  commit.head = "Subject: ordered\r\n\r\n";
  commit.last_seq = 7;
  commit.last_chunk = "end\r\n";
  SizeCounter sizes;
  sizes.add(*commit.head);
  for (auto& c : chunks) sizes.add(c);
  sizes.add(commit.last_chunk);
  commit.summary = {8, sizes.size(), sizes.pop3_size()};
  commit.destination.accounts = {f.alice};
  std::optional<Result<StoredMessage>> stored;
  store.commit_message(commit, [&](Result<StoredMessage> r) { stored = std::move(r); });
  CHECK(store.writes_in_flight() == 7);
  REQUIRE(f.loop.run_until([&] { return stored.has_value() && chunk_answers == 6; }));
  CHECK(chunk_errors == 0);
  REQUIRE(stored->has_value());
  CHECK(f.count("SELECT chunks FROM contents WHERE complete = 1") == 8);
  CHECK(store.writes_in_flight() == 0);
}

}  // namespace
}  // namespace postroom::pgstore
