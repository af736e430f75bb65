// Maildrop locks: the local table first (cheap, and what a single box needs), then the shared
// lock when a store is shared.
#include "postroom/service/mailbox_locks.hpp"

namespace postroom::service {

void MailboxLocks::acquire(std::int64_t account, std::function<void()> lost,
                           std::function<void(Acquired)> done) {
  if (held_.contains(account)) return done({Outcome::in_use, 0});
  Ticket ticket = next_ticket_++;
  held_[account] = {ticket, shared_ != nullptr, std::move(lost)};
  if (!shared_) return done({Outcome::held, ticket});
  shared_->acquire(account, [this, account, ticket, done = std::move(done)](Result<bool> got) {
    auto it = held_.find(account);
    if (it == held_.end() || it->second.ticket != ticket) {
      // Lost (or dropped) while being asked for: whatever the answer, it is not held here.
      if (got && *got && shared_) shared_->release(account);
      return done({Outcome::unavailable, 0});
    }
    if (!got || !*got) {
      held_.erase(it);
      return done({got ? Outcome::in_use : Outcome::unavailable, 0});
    }
    it->second.pending = false;
    done({Outcome::held, ticket});
  });
}

void MailboxLocks::unlock(std::int64_t account, Ticket ticket) {
  auto it = held_.find(account);
  if (it == held_.end() || it->second.ticket != ticket) return;
  held_.erase(it);
  if (shared_) shared_->release(account);
}

void MailboxLocks::lose_all() {
  auto lost = std::exchange(held_, {});
  for (auto& [account, holding] : lost)
    if (!holding.pending && holding.lost) holding.lost();
}

void lock_free_mailboxes(
    MailboxLocks& locks, std::vector<std::int64_t> accounts,
    std::function<void(std::vector<std::pair<std::int64_t, MailboxLocks::Ticket>>)> done) {
  struct Gathering {
    std::size_t waiting = 0;
    std::vector<std::pair<std::int64_t, MailboxLocks::Ticket>> held;
    std::function<void(std::vector<std::pair<std::int64_t, MailboxLocks::Ticket>>)> done;
  };
  auto gathering = std::make_shared<Gathering>();
  gathering->waiting = accounts.size() + 1;  // +1 until every request went out
  gathering->done = std::move(done);
  auto one_done = [gathering] {
    if (--gathering->waiting == 0) gathering->done(std::move(gathering->held));
  };
  for (auto account : accounts)
    locks.acquire(account, nullptr, [gathering, account, one_done](MailboxLocks::Acquired a) {
      if (a.outcome == MailboxLocks::Outcome::held) gathering->held.emplace_back(account, a.ticket);
      one_done();
    });
  one_done();
}

}  // namespace postroom::service
