// Password and APOP checks on the thread pool, at most a few at once, with per-address delays.
#include "postroom/service/auth_service.hpp"

#include <algorithm>

#include "postroom/auth/password.hpp"
#include "postroom/base/address.hpp"
#include "postroom/base/log.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/accounts.hpp"

namespace postroom::service {

AuthService::AuthService(Context& context, auth::LimiterPolicy policy)
    : context_(context), limiter_(policy) {}

AuthService::~AuthService() {
  *alive_ = false;
}

void AuthService::check_password(const std::string& peer_ip, const std::string& user,
                                 const std::string& password, Callback done) {
  enqueue(Request{peer_ip, to_lower_ascii(user), password, {}, false, std::move(done)});
}

void AuthService::check_apop(const std::string& peer_ip, const std::string& user,
                             const std::string& timestamp, const std::string& digest,
                             Callback done) {
  enqueue(Request{peer_ip, to_lower_ascii(user), digest, timestamp, true, std::move(done)});
}

void AuthService::enqueue(Request request) {
  // A locked-out address fails whatever it sends, so it gets no argon2id: otherwise its
  // attempts would hold the few verification slots and slow every other address's login.
  if (limiter_.locked_out(request.peer_ip, auth::Limiter::Clock::now())) {
    AuthResult refused;
    refused.address = request.user;
    log_line("auth peer=", request.peer_ip, " user=", request.user, " result=locked-out");
    return finish(std::move(request), std::move(refused), false);
  }
  waiting_.push_back(std::move(request));
  start_next();
}

void AuthService::start_next() {
  // argon2id costs kArgonMemLimit per verification: cap how many run at once.
  while (running_ < auth::kMaxConcurrentVerifications && !waiting_.empty()) {
    auto request = std::make_shared<Request>(std::move(waiting_.front()));
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
      limiter_.locked_out(request.peer_ip, now)) {
    result = AuthResult{};  // A right password during a lockout still fails.
    log_line("auth peer=", request.peer_ip, " user=", request.user, " result=locked-out");
  }
  if (result.outcome == AuthResult::Outcome::ok) {
    limiter_.record_success(request.peer_ip);
    log_line("auth peer=", request.peer_ip, " user=", request.user, " result=ok");
    request.done(std::move(result));
    return;
  }
  if (result.outcome == AuthResult::Outcome::bad_credentials) {
    if (limiter_.record_failure(request.peer_ip, now))
      log_line("auth peer=", request.peer_ip, " locked out after repeated failures");
    log_line("auth peer=", request.peer_ip, " user=", request.user, " result=failed");
  }
  auto delay = limiter_.delay(request.peer_ip, now);
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
