// Password and APOP checks on the thread pool, at most a few at once, with per-address delays.
#include "postroom/service/auth_service.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "postroom/auth/password.hpp"
#include "postroom/base/address.hpp"
#include "postroom/base/log.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/accounts.hpp"

namespace postroom::service {

AuthService::AuthService(Context& context, auth::LimiterPolicy policy)
    : context_(context), limiter_(policy) {}

AuthService::~AuthService() {
  *alive_ = false;
}

namespace {

// An IPv6 client usually holds a whole /64, so failures are counted per /64: otherwise
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

// One log line per answered attempt; never the secret.
void log_attempt(const auto& request, std::string_view result) {
  log_line("auth session=", request.peer.session, " peer=", request.peer.ip, " user=", request.user,
           " result=", result);
}

}  // namespace

void AuthService::check_password(const Peer& peer, const std::string& user,
                                 const std::string& password, Callback done) {
  enqueue(Request{
      peer, limiter_key(peer.ip), to_lower_ascii(user), password, {}, false, std::move(done)});
}

void AuthService::check_apop(const Peer& peer, const std::string& user,
                             const std::string& timestamp, const std::string& digest,
                             Callback done) {
  enqueue(Request{peer, limiter_key(peer.ip), to_lower_ascii(user), digest, timestamp, true,
                  std::move(done)});
}

void AuthService::enqueue(Request request) {
  // A locked-out address fails whatever it sends, so it gets no argon2id: otherwise its
  // attempts would hold the few verification slots and slow every other address's login.
  if (limiter_.locked_out(request.key, auth::Limiter::Clock::now())) {
    AuthResult refused;
    refused.address = request.user;
    log_attempt(request, "locked-out");
    wipe(request.secret);
    return finish(std::move(request), std::move(refused), false);
  }
  waiting_.push_back(std::move(request));
  start_next();
}

void AuthService::start_next() {
  // argon2id costs kArgonMemLimit per verification: cap how many run at once.
  while (running_ < auth::kMaxConcurrentVerifications && !waiting_.empty()) {
    auto request = std::make_shared<Request>(std::move(waiting_.front()));
    wipe(waiting_.front().secret);  // a short moved-from string keeps its bytes in place
    waiting_.pop_front();
    ++running_;
    auto result = std::make_shared<AuthResult>();
    context_.read(
        [request, result](store::Database& db) -> Result<void> {
          result->address = request->user;
          auto account = store::find_account(db, request->user);
          if (!account) {
            result->outcome = AuthResult::Outcome::temp_failure;
            return {};
          }
          bool ok = false;
          if (request->apop) {
            ok = *account && (*account)->apop_secret &&
                 auth::verify_apop(request->timestamp, *(*account)->apop_secret, request->secret);
          } else {
            // Unknown users cost one argon2id too, so timing does not reveal who exists.
            ok = auth::verify_password(*account ? (*account)->password_hash : auth::dummy_hash(),
                                       request->secret) &&
                 *account;
          }
          wipe(request->secret);  // verified: the password is no longer needed
          if (!ok) return {};
          result->outcome = AuthResult::Outcome::ok;
          result->account_id = (*account)->id;
          auto senders = store::sender_addresses(db, request->user);
          if (senders) result->sender_addresses = std::move(*senders);
          return {};
        },
        [this, alive = alive_, request, result](Result<void> r) {
          if (!*alive) return;
          --running_;
          if (!r) result->outcome = AuthResult::Outcome::temp_failure;
          finish(std::move(*request), std::move(*result), true);
          start_next();
        });
  }
}

void AuthService::finish(Request request, AuthResult result, bool verified) {
  auto now = auth::Limiter::Clock::now();
  // The lockout may have begun while this attempt was being verified.
  if (verified && result.outcome == AuthResult::Outcome::ok &&
      limiter_.locked_out(request.key, now)) {
    result = AuthResult{};  // A right password during a lockout still fails.
    log_attempt(request, "locked-out");
  }
  if (result.outcome == AuthResult::Outcome::ok) {
    limiter_.record_success(request.key);
    log_attempt(request, "ok");
    request.done(std::move(result));
    return;
  }
  if (result.outcome == AuthResult::Outcome::bad_credentials) {
    if (limiter_.record_failure(request.key, now))
      log_line("auth session=", request.peer.session, " peer=", request.peer.ip,
               " locked out after repeated failures");
    log_attempt(request, "failed");
  }
  auto delay = limiter_.delay(request.key, now);
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

}  // namespace postroom::service
