// Retention in the daemon: the periodic purge of expired mail, what POP3 CAPA announces
// (RFC 2449 EXPIRE, LOGIN-DELAY), and the login delay itself.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "postroom/config/config.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/pop3/session.hpp"
#include "postroom/service/mailbox_locks.hpp"
#include "postroom/store/retention.hpp"

namespace postroom::service {

struct Context;

// The config's retention section as the store's policy (the level below domain and user).
store::RetentionPolicy default_policy(const config::Retention& retention);

// What CAPA announces before login: the defaults, with USER where some domain's or user's
// setting gives another value. Pure, for tests.
pop3::Announced server_announcement(const store::RetentionPolicy& defaults,
                                    const std::vector<store::RetentionSetting>& settings);
// What CAPA announces to `address` after login.
pop3::Announced user_announcement(const store::RetentionPolicy& policy);

class RetentionService : public std::enable_shared_from_this<RetentionService> {
 public:
  explicit RetentionService(Context& context);

  // Starts with `settings` (read at start-up), then purges every retention.check_every and
  // re-reads the settings every 30 s at most (so `postroom retention set` takes effect
  // within that).
  void start(std::vector<store::RetentionSetting> settings);
  // Stops the timer; a purge in flight finishes (the writer commits it before it stops).
  void stop();

  pop3::Announced server_announcement() const;
  pop3::Announced user_announcement(std::string_view address) const;

  // LOGIN-DELAY (RFC 2449 §6.5): may `account` log in now? Login times are kept in
  // memory only: the rule protects the server from clients polling too often, and a restart
  // (rare) forgetting them lets each user in once early, which costs nothing; writing every
  // login durably would cost a commit (an fsync) per login.
  // They are the loop's monotonic milliseconds: a whole-second clock would let a login in
  // up to a second early, and a wall clock set back would hold users out.
  bool login_allowed(std::int64_t account, std::string_view address) const;
  // The login went through (the maildrop is ready): the delay counts from here.
  void logged_in(std::int64_t account);

 private:
  using Held = std::pair<std::int64_t, MailboxLocks::Ticket>;  // a maildrop locked for a purge
  void tick();
  void refresh();
  void purge(std::int64_t now);
  // One writer job of the purge after another, while they come back full; then unlocks.
  void purge_batches(store::RetentionPolicy defaults, std::int64_t now, std::vector<Held> locked,
                     int removed_so_far);
  void release(const std::vector<Held>& locked);
  void forget_old_logins();
  std::uint64_t now_ms() const;

  Context& context_;
  std::unique_ptr<net::Timer> timer_;
  std::vector<store::RetentionSetting> settings_;               // as last read
  std::unordered_map<std::int64_t, std::uint64_t> last_login_;  // account -> now_ms()
  std::int64_t last_purge_ = 0;
  bool refreshing_ = false;
  bool purging_ = false;  // one purge at a time: it holds maildrop locks
};

}  // namespace postroom::service
