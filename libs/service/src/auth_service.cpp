// Password and APOP checks on the thread pool: a queue fair per address, delays and lockouts.
#include "postroom/service/auth_service.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>

#include "postroom/auth/device_password.hpp"
#include "postroom/auth/password.hpp"
#include "postroom/base/address.hpp"
#include "postroom/base/log.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::service {

AuthService::AuthService(Context& context, auth::LimiterPolicy policy)
    : context_(context), limiter_(policy) {}

AuthService::~AuthService() {
  *alive_ = false;
}

namespace {

using Clock = auth::Limiter::Clock;

// An IPv6 client usually holds a whole /64, so it is counted and queued per /64: otherwise
// every guess could come from a fresh address. IPv4 (and IPv4-mapped) stay per address.
std::string limiter_key(const std::string& ip) {
  in6_addr v6{};
  if (ip.find(':') == std::string::npos || inet_pton(AF_INET6, ip.c_str(), &v6) != 1 ||
      IN6_IS_ADDR_V4MAPPED(&v6))
    return ip;
  std::memset(reinterpret_cast<unsigned char*>(&v6) + 8, 0, 8);
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &v6, text, sizeof text);
  return std::string(text) + "/64";
}

// The one log line of an attempt; never the secret.
void log_attempt(const auto& request, std::string_view result, std::string_view extra = {}) {
  log_line("auth session=", request.peer.session, " peer=", request.peer.ip, " user=", request.user,
           " result=", result, extra);
}

// A device name as the admin typed it may hold spaces: quoted in the log line.
std::string quote_device(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  }
  return out + "\"";
}

std::string_view service_name(AuthService::Service service) {
  switch (service) {
    case AuthService::Service::pop3:
      return "pop3";
    case AuthService::Service::smtp:
      return "smtp";
    case AuthService::Service::other:
      return "other";
  }
  return "other";
}

struct Credentials {
  std::string_view secret;     // password or APOP digest
  std::string_view timestamp;  // APOP only
  bool apop = false;
};

// The credential check itself: one argon2id verification (or an APOP digest) against the
// account found, or against a dummy hash when there is none, so that timing does not reveal
// which users exist. Costs kArgonMemLimit and tens of milliseconds: thread pool only.
bool verify_credentials(const Credentials& given, const std::optional<store::Account>& account) {
  if (given.apop) {
    return account && account->apop_secret &&
           auth::verify_apop(given.timestamp, *account->apop_secret, given.secret);
  }
  return auth::verify_password(account ? account->password_hash : auth::dummy_hash(),
                               given.secret) &&
         account;
}

}  // namespace

void AuthService::check_password(const Peer& peer, const std::string& user,
                                 const std::string& password, Callback done) {
  Request request{peer,  limiter_key(peer.ip),          to_lower_ascii(user), password, {},
                  false, auth::secret_digest(password), std::move(done)};
  request.service = peer.service;
  request.limit_user = request.user;
  if (auto canonical = auth::canonical_device_password(password)) {
    // A device's failures are that device's: counted under their own limiter key, so that
    // guessing at it never delays nor locks out the main password.
    request.selector = auth::device_selector(*canonical);
    request.limit_user += '\0';
    request.limit_user += "device:" + *request.selector;
    wipe(request.secret);
    request.secret = std::move(*canonical);
  }
  enqueue(std::move(request));
}

void AuthService::check_apop(const Peer& peer, const std::string& user,
                             const std::string& timestamp, const std::string& digest,
                             Callback done) {
  Request request{peer, limiter_key(peer.ip),        to_lower_ascii(user), digest, timestamp,
                  true, auth::secret_digest(digest), std::move(done)};
  request.service = peer.service;
  request.limit_user = request.user;
  enqueue(std::move(request));
}

std::size_t AuthService::queue_level(const std::string& ip, const std::string& key) {
  // The office first, then addresses that have not failed lately, then the others: a flood
  // of guesses from many addresses costs a newcomer only the verifications already running.
  if (trusted(ip)) return 0;
  return limiter_.suspect(key, Clock::now()) ? 2 : 1;
}

bool AuthService::trusted(const std::string& ip) const {
  sockaddr_storage address{};
  if (uv_ip4_addr(ip.c_str(), 0, reinterpret_cast<sockaddr_in*>(&address)) != 0 &&
      uv_ip6_addr(ip.c_str(), 0, reinterpret_cast<sockaddr_in6*>(&address)) != 0)
    return false;
  return context_.config->is_trusted(reinterpret_cast<const sockaddr*>(&address));
}

void AuthService::enqueue(Request request) {
  // A locked-out attempt fails whatever it sends, so it gets no argon2id: otherwise its
  // attempts would hold the few verification slots and slow every other address's login.
  if (limiter_.locked_out(request.key, request.limit_user, Clock::now()))
    return refuse(std::move(request));
  std::string key = request.key;
  auto level = queue_level(request.peer.ip, key);
  waiting_.push(key, level, std::move(request));
  start_next();
}

void AuthService::start_next() {
  auto now = Clock::now();
  // argon2id costs kArgonMemLimit per verification: cap how many run at once.
  while (running_ < auth::kMaxConcurrentVerifications) {
    auto next = waiting_.pop(
        [&](const Request& r) { return limiter_.not_before(r.key, r.limit_user, now) <= now; });
    if (!next) break;
    // Checked again at the head of the queue: a lockout may have begun while it waited.
    if (limiter_.locked_out(next->second.key, next->second.limit_user, now)) {
      waiting_.done(next->first, queue_level(next->second.peer.ip, next->first));
      refuse(std::move(next->second));
      continue;
    }
    ++running_;
    verify(std::move(next->first), std::move(next->second));
  }
  schedule_wake(now);
}

void AuthService::schedule_wake(Clock::time_point now) {
  if (waiting_.size() == 0 || running_ >= auth::kMaxConcurrentVerifications) return;
  // Attempts whose address has one in flight start when it ends; only delays need a timer.
  std::optional<Clock::time_point> earliest;
  waiting_.for_each([&](const Request& r) {
    auto at = limiter_.not_before(r.key, r.limit_user, now);
    if (at > now && (!earliest || at < *earliest)) earliest = at;
  });
  if (!earliest) return;
  if (!wake_) wake_ = std::make_unique<net::Timer>(context_.loop);
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*earliest - now).count();
  wake_->start(static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 1)), [this] { start_next(); });
}

void AuthService::verify(std::string key, Request request) {
  auto shared = std::make_shared<Request>(std::move(request));
  wipe(request.secret);  // a short moved-from string keeps its bytes in place
  auto result = std::make_shared<AuthResult>();
  result->address = shared->user;
  // The account (and for a device password the device) from the store, the check on the
  // thread pool, then the addresses the user may send as: each step answered on the loop.
  context_.store->find_account(
      shared->user, [this, alive = alive_, key = std::move(key), shared,
                     result](Result<std::optional<store::Account>> account) mutable {
        if (!*alive) return;
        if (!account) {
          result->outcome = AuthResult::Outcome::temp_failure;
          wipe(shared->secret);
          return verified(std::move(key), shared, result);
        }
        auto found = std::make_shared<std::optional<store::Account>>(std::move(*account));
        if (!shared->selector) return verify_hash(std::move(key), shared, result, found, nullptr);
        auto device = std::make_shared<std::optional<store::Device>>();
        if (!found->has_value()) return verify_hash(std::move(key), shared, result, found, device);
        context_.store->find_device(
            (**found).id, *shared->selector,
            [this, alive = alive_, key = std::move(key), shared, result, found,
             device](Result<std::optional<store::Device>> row) mutable {
              if (!*alive) return;
              if (!row) {
                result->outcome = AuthResult::Outcome::temp_failure;
                wipe(shared->secret);
                return verified(std::move(key), shared, result);
              }
              *device = std::move(*row);
              verify_hash(std::move(key), shared, result, found, device);
            });
      });
}

namespace {

bool permits(const store::DeviceRights& rights, AuthService::Service service) {
  switch (service) {
    case AuthService::Service::pop3:
      return rights.pop3;
    case AuthService::Service::smtp:
      return rights.smtp;
    case AuthService::Service::other:
      return false;  // a device password opens only the protocols it names
  }
  return false;
}

// The addresses a device may send as: its --from list, but only those the account may
// still send as (an alias removed since takes its address from the device too).
std::vector<std::string> device_senders(const store::DeviceRights& rights,
                                        std::vector<std::string> account_senders) {
  if (rights.senders.empty()) return account_senders;
  std::vector<std::string> out;
  for (const auto& s : rights.senders) {
    if (std::find(account_senders.begin(), account_senders.end(), s) != account_senders.end())
      out.push_back(s);
  }
  return out;
}

}  // namespace

namespace {

// The argon2id string a password is checked against, when there is a real one to remember a
// success by (not for APOP, nor against the dummy hash of a missing account or device).
std::optional<std::string> stored_hash(bool apop, const std::optional<store::Account>& account,
                                       const std::optional<store::Device>* device) {
  if (apop || !account) return std::nullopt;
  if (device) return *device ? std::optional<std::string>((*device)->password_hash) : std::nullopt;
  return account->password_hash;
}

}  // namespace

void AuthService::verify_hash(std::string key, std::shared_ptr<Request> shared,
                              std::shared_ptr<AuthResult> result,
                              std::shared_ptr<std::optional<store::Account>> found,
                              std::shared_ptr<std::optional<store::Device>> device) {
  using LoginClock = auth::VerifiedLogins::Clock;
  auto stored = stored_hash(shared->apop, *found, device.get());
  auto ttl = context_.config->auth.verified_login_cache;
  if (stored && verified_logins_->matches(*stored, shared->secret, LoginClock::now(), ttl)) {
    wipe(shared->secret);
    shared->remembered = true;
    return checked(std::move(key), shared, result, found, device, true);
  }
  auto ok = std::make_shared<bool>(false);
  auto digest = std::make_shared<std::optional<auth::VerifiedLogins::Digest>>();
  bool remember = stored && ttl.count() > 0;
  net::queue_work(
      context_.loop,
      [shared, found, device, ok, digest, remember, logins = verified_logins_] {
        if (device) {
          // A device password is checked against its device only (or a dummy hash when
          // there is none, so that timing tells nothing), never against the main password.
          const auto& d = *device;
          *ok = auth::verify_password(d ? d->password_hash : auth::dummy_hash(), shared->secret) &&
                d && found->has_value();
        } else {
          *ok = verify_credentials({shared->secret, shared->timestamp, shared->apop}, *found);
        }
        if (*ok && remember) *digest = logins->digest(shared->secret);
        wipe(shared->secret);  // verified: the secret is no longer needed
      },
      [this, alive = alive_, key = std::move(key), shared, result, found, device, ok, digest,
       stored = std::move(stored)]() mutable {
        if (!*alive) return;
        if (*digest) verified_logins_->remember(*stored, **digest, LoginClock::now());
        checked(std::move(key), shared, result, found, device, *ok);
      });
}

void AuthService::checked(std::string key, std::shared_ptr<Request> shared,
                          std::shared_ptr<AuthResult> result,
                          std::shared_ptr<std::optional<store::Account>> found,
                          std::shared_ptr<std::optional<store::Device>> device, bool ok) {
  if (!ok) return verified(std::move(key), shared, result);
  if (device && !permits((**device).rights, shared->service)) {
    // The right password for a protocol it was not given: refused, but not a guess.
    shared->not_permitted = true;
    result->device = DeviceLogin{(**device).id, (**device).name, 0};
    return verified(std::move(key), shared, result);
  }
  result->outcome = AuthResult::Outcome::ok;
  result->account_id = (**found).id;
  if (device) {
    const auto& d = **device;
    result->device = DeviceLogin{d.id, d.name, d.rights.rate_per_hour};
  }
  context_.store->sender_addresses(
      shared->user, [this, alive = alive_, key = std::move(key), shared, result,
                     device](Result<std::vector<std::string>> senders) mutable {
        if (!*alive) return;
        if (!senders) {
          result->outcome = AuthResult::Outcome::temp_failure;
        } else if (device) {
          result->sender_addresses = device_senders((**device).rights, std::move(*senders));
        } else {
          result->sender_addresses = std::move(*senders);
        }
        verified(std::move(key), shared, result);
      });
}

void AuthService::record_device_use(std::int64_t device, const std::string& ip) {
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  auto& last = device_uses_[device];
  if (last.first == ip && now - last.second < 60 && now >= last.second) return;
  last = {ip, now};
  context_.store->record_device_use(device, now, ip, [device](Result<void> recorded) {
    if (!recorded)
      log_line("auth: recording the last use of device ", device,
               " failed: ", recorded.error().message);
  });
}

void AuthService::verified(std::string key, const std::shared_ptr<Request>& request,
                           const std::shared_ptr<AuthResult>& result) {
  --running_;
  std::string ip = request->peer.ip;
  finish(std::move(*request), std::move(*result), true);
  waiting_.done(key, queue_level(ip, key));  // after finish() counted a failure
  start_next();
}

void AuthService::refuse(Request request) {
  wipe(request.secret);
  AuthResult refused;
  refused.address = request.user;
  finish(std::move(request), std::move(refused), false);
}

void AuthService::finish(Request request, AuthResult result, bool verified) {
  auto now = Clock::now();
  using Outcome = AuthResult::Outcome;
  std::string device =
      result.device ? " device=" + quote_device(result.device->name) : std::string();
  if (request.not_permitted) {
    // Not counted as a failure: the password was right, and the admin's choice of
    // protocols must not turn a misconfigured scanner into a lockout.
    log_attempt(request, "not-permitted",
                device + " service=" + std::string(service_name(request.service)));
    ++context_.metrics.logins_failed;
    result = AuthResult{};
    result.address = request.user;
    return request.done(std::move(result));
  }
  if (!verified) {
    log_attempt(request, "locked-out");
    ++context_.metrics.logins_locked_out;
  } else if (result.outcome == Outcome::ok &&
             limiter_.locked_out(request.key, request.limit_user, now)) {
    // The lockout began while this attempt was verified: a right password still fails.
    result = AuthResult{};
    log_attempt(request, "locked-out");
    ++context_.metrics.logins_locked_out;
  } else if (result.outcome == Outcome::ok) {
    limiter_.record_success(request.key, request.limit_user, now);
    log_attempt(request, "ok", device + (request.remembered ? " verified=remembered" : ""));
    if (result.device) record_device_use(result.device->id, request.peer.ip);
    return request.done(std::move(result));
  } else if (result.outcome == Outcome::temp_failure) {
    log_attempt(request, "temp-failure");
    return request.done(std::move(result));
  } else {
    // A device password's failure names its selector (public), never the password.
    std::string which = request.selector ? " device-selector=" + *request.selector : std::string();
    switch (limiter_.record_failure(request.key, request.limit_user, request.digest, now)) {
      case auth::Limiter::Lockout::none:
        log_attempt(request, "failed", which);
        break;
      case auth::Limiter::Lockout::user:
        log_attempt(request, "failed",
                    which + (request.selector ? " lockout=device" : " lockout=user"));
        context_.recent.lockout({std::time(nullptr), request.selector ? "device" : "user",
                                 request.peer.ip, request.user});
        break;
      case auth::Limiter::Lockout::address:
        log_attempt(request, "failed", which + " lockout=address");
        context_.recent.lockout({std::time(nullptr), "address", request.peer.ip, request.user});
        break;
    }
  }
  ++context_.metrics.logins_failed;
  auto delay = limiter_.delay(request.key, request.limit_user, now);
  auto done = std::move(request.done);
  // An unverified refusal comes straight from enqueue(), inside the session's own call:
  // answering through the loop keeps the callback from re-entering the session.
  if (!verified) delay = std::max(delay, std::chrono::milliseconds(1));
  if (delay.count() == 0) return done(std::move(result));
  after(
      static_cast<std::uint64_t>(delay.count()),
      [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
}

void AuthService::after(std::uint64_t ms, std::function<void()> fire) {
  delays_.push_back(std::make_unique<net::Timer>(context_.loop));
  auto it = std::prev(delays_.end());
  (*it)->start(ms, [this, it, fire = std::move(fire)] {
    fire();
    delays_.erase(it);  // The timer's handle is freed later, in its close callback.
  });
}

void AuthService::shutdown() {
  delays_.clear();
  wake_.reset();
  waiting_.clear();
}

}  // namespace postroom::service
