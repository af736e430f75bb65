// POP3 maildrop locks (RFC 1939 §8): one TRANSACTION session per mailbox, in this process and,
// on a store several postroomd share (PostgreSQL), across all of them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::service {

class MailboxLocks {
 public:
  // The part of a lock other processes see; without one this process is the only server.
  class Shared {
   public:
    virtual ~Shared() = default;
    // True when this process now holds the maildrop, false when another process has it.
    virtual void acquire(std::int64_t account, std::function<void(Result<bool>)> done) = 0;
    virtual void release(std::int64_t account) = 0;
  };
  enum class Outcome { held, in_use, unavailable };
  using Ticket = std::uint64_t;  // names one holding, so a stale unlock frees nothing else
  struct Acquired {
    Outcome outcome = Outcome::unavailable;
    Ticket ticket = 0;  // when held
  };

  // Every lock shared from now on goes through `shared` too.
  void share_with(std::unique_ptr<Shared> shared) { shared_ = std::move(shared); }
  // Locks `account`'s maildrop; `done` may run before this returns. `lost` is heard if the
  // lock is taken away while held (the shared locks went with their connection): the
  // holder must stop serving the maildrop at once, another server may have it now.
  void acquire(std::int64_t account, std::function<void()> lost,
               std::function<void(Acquired)> done);
  void unlock(std::int64_t account, Ticket ticket);
  // The shared locks were all lost: every holder hears it and nothing stays held.
  void lose_all();

 private:
  struct Holding {
    Ticket ticket = 0;
    bool pending = false;  // the shared lock is being asked for
    std::function<void()> lost;
  };
  std::unordered_map<std::int64_t, Holding> held_;
  std::unique_ptr<Shared> shared_;
  Ticket next_ticket_ = 1;
};

// Locks each of `accounts` that is free; `done` gets the ones held (with their tickets).
void lock_free_mailboxes(
    MailboxLocks& locks, std::vector<std::int64_t> accounts,
    std::function<void(std::vector<std::pair<std::int64_t, MailboxLocks::Ticket>>)> done);

}  // namespace postroom::service
