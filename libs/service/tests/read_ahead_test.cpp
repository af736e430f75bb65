// Read-ahead of whole messages for POP3: what is planned, held, handed over, and read.
#include "../src/read_ahead.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "../../store/tests/put_message.hpp"
#include "../../store/tests/temp_dir.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"

using namespace postroom;
using namespace postroom::service;

namespace {
std::vector<std::int64_t> ids(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> out;
  for (auto i = first; i <= last; ++i) out.push_back(i);
  return out;
}
}  // namespace

TEST_CASE("read ahead: plans the following messages, up to the message count") {
  ReadAhead ahead;
  auto order = ids(1, 100);
  auto plan = ahead.plan_after(1, order);
  CHECK(plan.messages == ids(2, 1 + ReadAhead::kMessages));
  CHECK(plan.budget == ReadAhead::kBytes);
  CHECK(ahead.plan_after(100, order).empty());  // the last message: nothing follows
  CHECK(ahead.plan_after(999, order).empty());  // not in the maildrop
}

TEST_CASE("read ahead: what a read brings is handed over once, and not planned again") {
  ReadAhead ahead;
  auto order = ids(1, 10);
  ahead.add({{2, "two"}, {3, "three"}});
  CHECK(ahead.bytes() == 8);
  CHECK(ahead.take(2) == "two");
  CHECK_FALSE(ahead.take(2));  // handed over: gone
  CHECK_FALSE(ahead.take(7));  // never read
  CHECK(ahead.bytes() == 5);
  auto next = ahead.plan_after(2, order);  // 3 is held: the plan starts at 4
  REQUIRE_FALSE(next.empty());
  CHECK(next.messages.front() == 4);
  CHECK(next.budget == ReadAhead::kBytes - 5);
}

TEST_CASE("read ahead: the byte budget bounds what is held") {
  ReadAhead ahead;
  auto order = ids(1, 10);
  ahead.add(
      {{2, std::string(ReadAhead::kBytes / 2, 'x')}, {3, std::string(ReadAhead::kBytes / 2, 'y')}});
  CHECK(ahead.plan_after(3, order).empty());  // budget spent
  (void)ahead.take(2);
  CHECK(ahead.plan_after(3, order).budget == ReadAhead::kBytes / 2);
}

TEST_CASE("store: read_whole reads whole messages in order and stops at the budget") {
  TempDir dir;
  auto db = store::Database::open(dir.db());
  REQUIRE(db);
  auto account = store::add_account(*db, "alice@example.test", "h");
  REQUIRE(account);
  auto store_message = [&](const std::vector<std::string>& chunks) {
    std::string body;
    for (const auto& c : chunks) body += c;
    auto stored = store::put_message(*db, body, {*account}, chunks.front().size());
    REQUIRE(stored);
    return stored->content_id;
  };
  auto a = store_message({"a1\r\n"});
  auto b = store_message({"b1\r\n", "b2\r\n"});  // several chunks come back as one message
  auto big = store_message({std::string(1000, 'z')});
  auto d = store_message({"d1\r\n"});

  ReadAhead::Messages out;
  store::read_whole(*db, {a, b, big, d}, 500, out);
  REQUIRE(out.size() == 2);  // `big` does not fit what is left: it and what follows wait
  CHECK(out[0] == std::pair<std::int64_t, std::string>{a, "a1\r\n"});
  CHECK(out[1] == std::pair<std::int64_t, std::string>{b, "b1\r\nb2\r\n"});

  out.clear();
  store::read_whole(*db, {d, 424242, a}, 500, out);  // a content that is gone ends the read
  REQUIRE(out.size() == 1);
  CHECK(out[0].second == "d1\r\n");
}
