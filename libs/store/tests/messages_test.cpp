#include "postroom/store/messages.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/imports.hpp"
#include "put_message.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

namespace {

std::int64_t count(Database& db, const char* table) {
  auto s = db.prepare(std::string("SELECT count(*) FROM ") + table);
  REQUIRE(s);
  REQUIRE(s->step().value());
  return s->column_int(0);
}

// Stores `body` in chunks of `chunk` bytes for the given accounts.
StoredMessage store(Database& db, const std::string& body, std::vector<std::int64_t> accounts,
                    std::size_t chunk = 4, std::optional<QueueRequest> queue = std::nullopt) {
  auto stored = put_message(db, body, accounts, chunk, queue);
  REQUIRE(stored);
  return *stored;
}

std::string read_all(Database& db, std::int64_t content) {
  std::string out;
  for (std::int64_t seq = 0;; ++seq) {
    auto chunk = read_chunk(db, content, seq);
    REQUIRE(chunk);
    if (!*chunk) return out;
    out += **chunk;
  }
}

}  // namespace

TEST_CASE("store: one content is stored once for every mailbox, read back whole") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto bob = *add_account(*db, "bob@example.test", "h");
  std::string body = "Subject: hello\nX: y\r\n\r\nline\n.dot\r\n";
  auto stored = store(*db, body, {alice, bob});
  CHECK(count(*db, "contents") == 1);
  CHECK(count(*db, "deliveries") == 2);
  auto box = list_mailbox(*db, alice);
  REQUIRE(box);
  REQUIRE(box->size() == 1);
  CHECK((*box)[0].content_id == stored.content_id);
  CHECK((*box)[0].pop3_size == body.size() + 2);  // two bare LFs become CRLF
  CHECK(read_all(*db, stored.content_id) == body);
  CHECK((*list_mailbox(*db, bob))[0].uidl != (*box)[0].uidl);
}

TEST_CASE("store: a mailbox visit announces its count and UIDL bytes before the first message") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto bob = *add_account(*db, "bob@example.test", "h");
  for (int i = 0; i < 3; ++i) store(*db, "x\r\n", {alice});
  store(*db, "y\r\n", {bob});
  std::vector<std::string> events;
  std::size_t expected_messages = 0, expected_bytes = 0, seen_bytes = 0;
  MailboxVisitor visitor{.expect =
                             [&](std::size_t messages, std::size_t uidl_bytes) {
                               events.push_back("expect");
                               expected_messages = messages;
                               expected_bytes = uidl_bytes;
                             },
                         .each =
                             [&](std::int64_t, std::uint64_t size, std::string_view uidl) {
                               events.push_back("each");
                               CHECK(size == 3);
                               seen_bytes += uidl.size();
                             }};
  auto visited = visit_mailbox(*db, alice, visitor);
  REQUIRE(visited);
  CHECK(*visited == 3);
  CHECK(events == std::vector<std::string>{"expect", "each", "each", "each"});
  CHECK(expected_messages == 3);
  CHECK(expected_bytes == seen_bytes);
  CHECK(seen_bytes > 0);
  events.clear();
  REQUIRE(visit_mailbox(*db, 999, visitor));
  CHECK(events == std::vector<std::string>{"expect"});
  CHECK(expected_messages == 0);
  CHECK(expected_bytes == 0);
}

TEST_CASE("store: UIDLs are unique printable tokens of at most 70 characters") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  for (int i = 0; i < 50; ++i) store(*db, "x\r\n", {alice});
  std::set<std::string> seen;
  auto box = list_mailbox(*db, alice);
  REQUIRE(box);
  for (auto& e : *box) {
    CHECK(e.uidl.size() >= 1);
    CHECK(e.uidl.size() <= 70);
    for (char c : e.uidl) CHECK((c >= 0x21 && c <= 0x7e));
    seen.insert(e.uidl);
  }
  CHECK(seen.size() == 50);
  // The time leads, in delivery order, so the UIDL index grows at its end; 25 characters.
  std::vector<std::string> in_order;
  for (auto& e : *box) in_order.push_back(e.uidl.substr(0, 7));  // random after the time
  CHECK(std::is_sorted(in_order.begin(), in_order.end()));
  CHECK(box->front().uidl.size() == 25);
  auto first = in_order.front();
  CHECK(std::stoll(first.substr(0, 7), nullptr, 32) <= static_cast<long long>(std::time(nullptr)));
  CHECK(std::stoll(first.substr(0, 7), nullptr, 32) >=
        static_cast<long long>(std::time(nullptr)) - 60);
}

TEST_CASE("store: deleting the last delivery releases the content, not before") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto bob = *add_account(*db, "bob@example.test", "h");
  store(*db, "hello world\r\n", {alice, bob});
  auto alice_box = *list_mailbox(*db, alice);
  CHECK(delete_deliveries(*db, bob, {alice_box[0].delivery_id}).value() == 0);  // not bob's
  CHECK(delete_deliveries(*db, alice, {alice_box[0].delivery_id}).value() == 1);
  CHECK(count(*db, "contents") == 1);
  auto bob_box = *list_mailbox(*db, bob);
  CHECK(delete_deliveries(*db, bob, {bob_box[0].delivery_id}).value() == 1);
  CHECK(count(*db, "contents") == 0);
  CHECK(count(*db, "content_chunks") == 0);
}

TEST_CASE("store: queued recipients keep the content alive") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto stored = store(*db, "x\r\n", {}, 4,
                      QueueRequest{"alice@example.test", {"a@remote.test", "b@remote.test"}});
  CHECK_FALSE(stored.queue_id.empty());
  CHECK(count(*db, "queue") == 1);
  CHECK(count(*db, "queue_recipients") == 2);
  CHECK(count(*db, "contents") == 1);
  REQUIRE(db->exec("DELETE FROM queue"));
  CHECK(count(*db, "queue_recipients") == 0);
  CHECK(count(*db, "contents") == 0);
}

TEST_CASE("store: incomplete contents are swept, complete ones stay") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  store(*db, "kept\r\n", {alice});
  auto orphan = new_content_id();
  REQUIRE(start_content(*db, orphan));
  REQUIRE(append_chunk(*db, orphan, 0, "half a mess"));
  CHECK(sweep_incomplete(*db, std::time(nullptr) - 60).value() == 0);  // young: still written
  CHECK(sweep_incomplete(*db, std::time(nullptr) + 1).value() == 1);
  CHECK(count(*db, "contents") == 1);
  CHECK(count(*db, "content_chunks") == 2);  // "kept\r\n" in chunks of 4
}

TEST_CASE("store: content ids grow with time and never repeat, from any thread") {
  auto before = static_cast<std::uint64_t>(std::time(nullptr));
  std::vector<ContentId> mine, theirs;
  std::thread other([&] {
    for (int i = 0; i < 20000; ++i) theirs.push_back(new_content_id());
  });
  for (int i = 0; i < 20000; ++i) mine.push_back(new_content_id());
  other.join();
  auto after = static_cast<std::uint64_t>(std::time(nullptr));
  // Each thread's ids only grow (new contents go at the right edge of the B-trees)...
  CHECK(std::adjacent_find(mine.begin(), mine.end(), std::greater_equal<>{}) == mine.end());
  CHECK(std::adjacent_find(theirs.begin(), theirs.end(), std::greater_equal<>{}) == theirs.end());
  // ...no two are the same...
  std::set<ContentId> all(mine.begin(), mine.end());
  all.insert(theirs.begin(), theirs.end());
  CHECK(all.size() == 40000);
  // ...and their top bits are the time they were made (a count that runs past the end of
  // its second's range may carry into the next).
  CHECK(*all.begin() > 0);
  auto first_second = static_cast<std::uint64_t>(*all.begin()) >> kContentIdCountBits;
  auto last_second = static_cast<std::uint64_t>(*all.rbegin()) >> kContentIdCountBits;
  CHECK(first_second >= before);
  CHECK(last_second <= after + 1);
}

TEST_CASE("store: size counter counts bare LF across chunk boundaries") {
  SizeCounter c;
  c.add("a\r");
  c.add("\nb\n");
  c.add("\n");
  CHECK(c.size() == 6);
  CHECK(c.pop3_size() == 8);
}

TEST_CASE("store: size counter counts the line end POP3 adds after a last unterminated line") {
  SizeCounter empty;
  CHECK(empty.pop3_size() == 0);
  SizeCounter open_line;
  open_line.add("a\r\nb");
  CHECK(open_line.pop3_size() == 6);  // "a\r\nb\r\n"
  SizeCounter open_cr;
  open_cr.add("a\nb\r");
  CHECK(open_cr.pop3_size() == 6);  // "a\r\nb\r\n"
}

TEST_CASE("store: chunks are read in batches that say when the content is complete") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto stored = store(*db, "0123456789abcdef", {alice}, 4);  // four chunks of 4
  auto all = read_chunks(*db, stored.content_id, 0, 1 << 20);
  REQUIRE(all);
  CHECK(all->complete);
  CHECK(all->chunks.size() == 4);
  auto some = read_chunks(*db, stored.content_id, 0, 6);
  CHECK_FALSE(some->complete);
  CHECK(some->chunks.size() == 2);
  auto rest = read_chunks(*db, stored.content_id, 2, 6);
  CHECK(rest->complete);
  CHECK(rest->chunks == std::vector<std::string>{"89ab", "cdef"});
  auto none = read_chunks(*db, stored.content_id, 4, 6);
  CHECK(none->complete);
  CHECK(none->chunks.empty());
}

TEST_CASE("imports: an imported UIDL per mailbox, and contents compared as RETR sends them") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto bob = *add_account(*db, "bob@example.test", "h");
  auto lf = put_message(*db, "Subject: a\n\nbody", {alice}, 3);
  auto crlf = put_message(*db, "Subject: a\r\n\r\nbody\r\n", {alice}, 5);
  auto other = put_message(*db, "Subject: a\r\n\r\nbodies\r\n", {bob});
  REQUIRE(lf);
  REQUIRE(crlf);
  REQUIRE(other);
  CHECK(same_content(*db, lf->content_id, crlf->content_id).value());
  CHECK_FALSE(same_content(*db, crlf->content_id, other->content_id).value());
  REQUIRE(set_uidl(*db, alice, lf->content_id, "000000016553f100"));
  CHECK(content_with_uidl(*db, alice, "000000016553f100").value() == lf->content_id);
  CHECK_FALSE(content_with_uidl(*db, bob, "000000016553f100").value());
  // Unique per mailbox: alice cannot hold it twice; bob can hold the same UIDL.
  CHECK_FALSE(set_uidl(*db, alice, crlf->content_id, "000000016553f100"));
  CHECK(set_uidl(*db, bob, other->content_id, "000000016553f100"));
  REQUIRE(drop_delivery(*db, alice, crlf->content_id));
  CHECK(list_mailbox(*db, alice)->size() == 1);
}
