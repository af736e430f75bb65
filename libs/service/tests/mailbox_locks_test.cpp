// Maildrop locks: the local table, and the shared part a store several postroomd use adds
// (scripted here; tests/integration/test_postgresql_cluster.py runs the real one).
#include <doctest/doctest.h>

#include <deque>
#include <optional>

#include "postroom/service/mailbox_locks.hpp"

using namespace postroom;
using namespace postroom::service;
using Outcome = MailboxLocks::Outcome;

namespace {

// Answers each acquire when the test says so, as a database round trip would.
struct ScriptedShared : MailboxLocks::Shared {
  std::deque<std::pair<std::int64_t, std::function<void(Result<bool>)>>> asked;
  std::vector<std::int64_t> released;
  void acquire(std::int64_t account, std::function<void(Result<bool>)> done) override {
    asked.emplace_back(account, std::move(done));
  }
  void release(std::int64_t account) override { released.push_back(account); }
  void answer(Result<bool> r) {
    auto [account, done] = std::move(asked.front());
    asked.pop_front();
    done(std::move(r));
  }
};

MailboxLocks::Acquired acquire_now(MailboxLocks& locks, std::int64_t account,
                                   std::function<void()> lost = nullptr) {
  MailboxLocks::Acquired got{Outcome::unavailable, 0};
  locks.acquire(account, std::move(lost), [&](MailboxLocks::Acquired a) { got = a; });
  return got;
}

}  // namespace

TEST_CASE("mailbox locks: one holder per maildrop; a stale ticket frees nothing") {
  MailboxLocks locks;
  auto first = acquire_now(locks, 7);
  REQUIRE(first.outcome == Outcome::held);
  CHECK(acquire_now(locks, 7).outcome == Outcome::in_use);
  CHECK(acquire_now(locks, 8).outcome == Outcome::held);
  locks.unlock(7, first.ticket + 100);  // not the holder's
  CHECK(acquire_now(locks, 7).outcome == Outcome::in_use);
  locks.unlock(7, first.ticket);
  auto again = acquire_now(locks, 7);
  CHECK(again.outcome == Outcome::held);
  CHECK(again.ticket != first.ticket);
  locks.unlock(7, first.ticket);  // the first holder, late: the second keeps it
  CHECK(acquire_now(locks, 7).outcome == Outcome::in_use);
}

TEST_CASE("mailbox locks: the shared lock decides; asked once, released once") {
  MailboxLocks locks;
  auto owned = std::make_unique<ScriptedShared>();
  auto* shared = owned.get();
  locks.share_with(std::move(owned));

  std::optional<MailboxLocks::Acquired> got;
  locks.acquire(1, nullptr, [&](MailboxLocks::Acquired a) { got = a; });
  CHECK_FALSE(got);
  // While PostgreSQL is being asked, a second login here is in use without asking it.
  CHECK(acquire_now(locks, 1).outcome == Outcome::in_use);
  CHECK(shared->asked.size() == 1);
  shared->answer(true);
  REQUIRE(got);
  CHECK(got->outcome == Outcome::held);
  locks.unlock(1, got->ticket);
  CHECK(shared->released == std::vector<std::int64_t>{1});

  // Another box holds it: in use, and nothing stays held here.
  got.reset();
  locks.acquire(2, nullptr, [&](MailboxLocks::Acquired a) { got = a; });
  shared->answer(false);
  CHECK(got->outcome == Outcome::in_use);
  // The database unreachable: unavailable (a temporary error), nothing held.
  got.reset();
  locks.acquire(2, nullptr, [&](MailboxLocks::Acquired a) { got = a; });
  shared->answer(fail("connection lost"));
  CHECK(got->outcome == Outcome::unavailable);
  locks.acquire(2, nullptr, [&](MailboxLocks::Acquired a) { got = a; });
  CHECK(shared->asked.size() == 1);  // asked again: the failures left nothing behind
  shared->answer(true);
  CHECK(got->outcome == Outcome::held);
}

TEST_CASE("mailbox locks: losing the shared locks tells every holder, and a late grant goes back") {
  MailboxLocks locks;
  auto owned = std::make_unique<ScriptedShared>();
  auto* shared = owned.get();
  locks.share_with(std::move(owned));
  int lost = 0;
  std::optional<MailboxLocks::Acquired> held, pending;
  locks.acquire(
      1, [&] { ++lost; }, [&](MailboxLocks::Acquired a) { held = a; });
  shared->answer(true);
  REQUIRE(held->outcome == Outcome::held);
  locks.acquire(
      2, [&] { ++lost; }, [&](MailboxLocks::Acquired a) { pending = a; });

  locks.lose_all();
  CHECK(lost == 1);      // the holder of 1; the one still asking hears it from its answer
  shared->answer(true);  // granted on a connection about to go: not held here
  CHECK(pending->outcome == Outcome::unavailable);
  CHECK(shared->released == std::vector<std::int64_t>{2});
  locks.unlock(1, held->ticket);  // the ended session's unlock: already gone
  CHECK(shared->released == std::vector<std::int64_t>{2});
  // Both maildrops can be taken again.
  locks.acquire(1, nullptr, [&](MailboxLocks::Acquired a) { held = a; });
  shared->answer(true);
  CHECK(held->outcome == Outcome::held);
}

TEST_CASE("mailbox locks: a purge takes the free maildrops of a list, once all are answered") {
  MailboxLocks locks;
  auto owned = std::make_unique<ScriptedShared>();
  auto* shared = owned.get();
  locks.share_with(std::move(owned));
  std::optional<MailboxLocks::Acquired> session;
  locks.acquire(3, nullptr, [&](MailboxLocks::Acquired a) { session = a; });
  shared->answer(true);
  std::optional<std::vector<std::pair<std::int64_t, MailboxLocks::Ticket>>> taken;
  lock_free_mailboxes(locks, {1, 2, 3}, [&](auto held) { taken = std::move(held); });
  CHECK_FALSE(taken);
  shared->answer(true);  // 1
  CHECK_FALSE(taken);
  shared->answer(false);  // 2: another box's
  REQUIRE(taken);
  REQUIRE(taken->size() == 1);
  CHECK(taken->front().first == 1);
  lock_free_mailboxes(locks, {}, [&](auto held) { taken = std::move(held); });
  CHECK(taken->empty());
}
