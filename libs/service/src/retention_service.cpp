// The retention purge on a timer, the CAPA announcements and the in-memory login delay.
#include "postroom/service/retention_service.hpp"

#include <algorithm>
#include <ctime>

#include "postroom/base/log.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::service {

namespace {

// The settings are re-read at least this often, so an admin's change reaches CAPA and the
// login delay soon; the purge itself runs every retention.check_every.
constexpr std::int64_t kRefreshSeconds = 30;

// Deliveries deleted per writer job, so mail arriving meanwhile waits for a short job only:
// 20,000 messages of 2 KiB took 3 s in one job on a loaded 2-core box, so 1,000 about 150 ms.
constexpr int kPurgeBatch = 1000;

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

// The address whose policy a setting row decides ("@example.test" for a domain's row).
std::string representative(const store::RetentionSetting& row) {
  return row.scope.find('@') == std::string::npos ? "@" + row.scope : row.scope;
}

}  // namespace

store::RetentionPolicy default_policy(const config::Retention& retention) {
  return store::make_policy(retention.retrieved, retention.max_age, retention.login_delay);
}

pop3::Announced server_announcement(const store::RetentionPolicy& defaults,
                                    const std::vector<store::RetentionSetting>& settings) {
  pop3::Announced announced = user_announcement(defaults);
  for (const auto& row : settings) {
    auto policy = store::effective_policy(defaults, settings, representative(row));
    if (store::expire_days(policy) != announced.expire_days) announced.expire_per_user = true;
    if (policy.login_delay != announced.login_delay) announced.login_delay_per_user = true;
  }
  return announced;
}

pop3::Announced user_announcement(const store::RetentionPolicy& policy) {
  return pop3::Announced{.expire_days = store::expire_days(policy),
                         .expire_per_user = false,
                         .login_delay = policy.login_delay,
                         .login_delay_per_user = false};
}

RetentionService::RetentionService(Context& context) : context_(context) {}

void RetentionService::start(std::vector<store::RetentionSetting> settings) {
  settings_ = std::move(settings);
  timer_ = std::make_unique<net::Timer>(context_.loop);
  last_purge_ = unix_now();  // the first purge after one period, not in the start-up rush
  tick();
}

void RetentionService::stop() {
  timer_.reset();
}

void RetentionService::tick() {
  if (!timer_) return;
  auto period = context_.config->retention.check_every.count();
  auto every = std::max<std::int64_t>(1, std::min(period, kRefreshSeconds));
  std::weak_ptr<RetentionService> weak = weak_from_this();
  timer_->start(static_cast<std::uint64_t>(every) * 1000, [weak] {
    auto self = weak.lock();
    if (!self || !self->timer_) return;
    auto now = unix_now();
    self->refresh();
    self->forget_old_logins();
    if (now - self->last_purge_ >= self->context_.config->retention.check_every.count())
      self->purge(now);
    self->tick();
  });
}

void RetentionService::refresh() {
  if (refreshing_ || !context_.store) return;
  refreshing_ = true;
  std::weak_ptr<RetentionService> weak = weak_from_this();
  context_.store->retention_settings([weak](Result<std::vector<store::RetentionSetting>> rows) {
    auto self = weak.lock();
    if (!self) return;
    self->refreshing_ = false;
    if (!rows) {
      log_line("retention: reading the settings failed: ", rows.error().message);
      return;  // the last ones read stay in force
    }
    self->settings_ = std::move(*rows);
  });
}

void RetentionService::purge(std::int64_t now) {
  if (purging_ || !context_.store) return;
  last_purge_ = now;
  auto defaults = default_policy(context_.config->retention);
  purging_ = true;
  std::weak_ptr<RetentionService> weak = weak_from_this();
  context_.store->expired_mail_accounts(
      defaults, now, [weak, defaults, now](Result<store::ExpiredMailboxes> expired) {
        auto self = weak.lock();
        if (!self) return;
        if (!expired) {
          self->purging_ = false;
          log_line("retention: looking for expired mail failed: ", expired.error().message);
          return;
        }
        // RFC 2449 §6.7 lets the server delete at the next session: a maildrop a POP3 session
        // holds is left alone, and one being purged answers a login [IN-USE] meanwhile.
        std::size_t expired_count = expired->accounts.size();
        lock_free_mailboxes(self->context_.locks, std::move(expired->accounts),
                            [weak, defaults, now, expired_count](std::vector<Held> locked) {
                              auto s = weak.lock();
                              if (!s) return;
                              if (locked.size() < expired_count)
                                log_line("retention: ", expired_count - locked.size(),
                                         " mailbox(es) in use, purged at a later check");
                              if (locked.empty() || !s->timer_) {
                                s->release(locked);
                                s->purging_ = false;
                                return;
                              }
                              s->purge_batches(defaults, now, std::move(locked), 0);
                            });
      });
}

void RetentionService::release(const std::vector<Held>& locked) {
  for (auto [account, ticket] : locked) context_.locks.unlock(account, ticket);
}

void RetentionService::purge_batches(store::RetentionPolicy defaults, std::int64_t now,
                                     std::vector<Held> locked, int removed_so_far) {
  std::weak_ptr<RetentionService> weak = weak_from_this();
  std::vector<std::int64_t> accounts;
  for (auto [account, ticket] : locked) accounts.push_back(account);
  context_.store->purge_expired(
      defaults, now, std::move(accounts), kPurgeBatch,
      [weak, defaults, now, locked, removed_so_far](Result<int> removed) {
        auto s = weak.lock();
        if (!s) return;
        // A full batch: more may be left; the locks stay held for the next one.
        if (removed && *removed == kPurgeBatch && s->timer_)
          return s->purge_batches(defaults, now, locked, removed_so_far + *removed);
        s->release(locked);
        s->purging_ = false;
        int total = removed_so_far + (removed ? *removed : 0);
        if (!removed)
          log_line("retention: deleting expired mail failed: ", removed.error().message);
        if (total > 0)
          log_line("retention: deleted ", total, " expired message(s) from ", locked.size(),
                   " mailbox(es)");
      });
}

std::uint64_t RetentionService::now_ms() const {
  return uv_now(context_.loop);
}

void RetentionService::forget_old_logins() {
  std::int64_t longest = default_policy(context_.config->retention).login_delay;
  for (const auto& row : settings_) longest = std::max(longest, row.login_delay.value_or(0));
  auto now = now_ms();
  auto keep = static_cast<std::uint64_t>(std::max<std::int64_t>(longest, 0)) * 1000;
  std::erase_if(last_login_, [&](const auto& entry) { return now - entry.second >= keep; });
}

pop3::Announced RetentionService::server_announcement() const {
  return service::server_announcement(default_policy(context_.config->retention), settings_);
}

pop3::Announced RetentionService::user_announcement(std::string_view address) const {
  return service::user_announcement(
      store::effective_policy(default_policy(context_.config->retention), settings_, address));
}

bool RetentionService::login_allowed(std::int64_t account, std::string_view address) const {
  auto delay =
      store::effective_policy(default_policy(context_.config->retention), settings_, address)
          .login_delay;
  if (delay <= 0) return true;
  auto it = last_login_.find(account);
  return it == last_login_.end() ||
         now_ms() - it->second >= static_cast<std::uint64_t>(delay) * 1000;
}

void RetentionService::logged_in(std::int64_t account) {
  last_login_[account] = now_ms();
}

}  // namespace postroom::service
