// The outbound limit counters saved and read back, and the postmaster's notice stored.
#include "postroom/store/outbound_counts.hpp"

#include <doctest/doctest.h>

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"
#include "temp_dir.hpp"

using namespace postroom;
using namespace postroom::store;

namespace {
constexpr std::int64_t kBucket = 600;
constexpr std::int64_t kNow = 1'790'000'000;
}  // namespace

TEST_CASE("outbound counts: saved rows are read back, updated in place, and pruned by age") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  OutboundCounts rows;
  rows.buckets = {{"alice@example.test", kNow / kBucket, 3},
                  {"alice@example.test", (kNow - 2 * 86400) / kBucket, 9}};
  rows.recipients = {{"alice@example.test", "bob@remote.test", kNow},
                     {"alice@example.test", "old@remote.test", kNow - 2 * 86400}};
  rows.notices = {{"alice@example.test", kNow / 86400}};
  REQUIRE(save_outbound_counts(*db, rows, 0, kBucket));
  OutboundCounts update;
  update.buckets = {{"alice@example.test", kNow / kBucket, 4}};
  REQUIRE(save_outbound_counts(*db, update, kNow - 86400, kBucket));  // prunes the old rows

  auto loaded = load_outbound_counts(*db, 0, kBucket);
  REQUIRE(loaded);
  REQUIRE(loaded->buckets.size() == 1);
  CHECK(loaded->buckets[0].messages == 4);
  REQUIRE(loaded->recipients.size() == 1);
  CHECK(loaded->recipients[0].recipient == "bob@remote.test");
  REQUIRE(loaded->notices.size() == 1);
  CHECK(loaded->notices[0].day == kNow / 86400);
}

TEST_CASE("outbound counts: the notice goes to the postmaster's mailbox, or nowhere") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  const std::vector<std::string> domains{"example.test"};
  auto none = deliver_to_postmaster(*db, "Subject: x\r\n\r\nbody\r\n", domains);
  REQUIRE(none);
  CHECK_FALSE(*none);
  auto pm = add_account(*db, "postmaster@example.test", "h");
  REQUIRE(pm);
  auto stored = deliver_to_postmaster(*db, "Subject: x\r\n\r\nbody\r\n", domains);
  REQUIRE(stored);
  CHECK(*stored);
  auto box = list_mailbox(*db, *pm);
  REQUIRE(box);
  REQUIRE(box->size() == 1);
  auto chunk = read_chunk(*db, (*box)[0].content_id, 0);
  REQUIRE(chunk);
  REQUIRE(*chunk);
  CHECK(**chunk == "Return-Path: <>\r\nSubject: x\r\n\r\nbody\r\n");
}
