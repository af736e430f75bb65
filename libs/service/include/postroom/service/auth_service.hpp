// The credential check shared by SMTP AUTH and POP3: argon2id off the loop, brute-force defence.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "postroom/auth/limiter.hpp"
#include "postroom/net/handles.hpp"

namespace postroom::service {

struct Context;

struct AuthResult {
  enum class Outcome { ok, bad_credentials, temp_failure } outcome = Outcome::bad_credentials;
  std::int64_t account_id = 0;
  std::string address;                        // the normalized login name
  std::vector<std::string> sender_addresses;  // own address and aliases (RFC 6409 check)
};

class AuthService {
 public:
  using Callback = std::function<void(AuthResult)>;
  AuthService(Context& context, auth::LimiterPolicy policy);
  ~AuthService();

  // Who is logging in, for the brute-force bookkeeping and the log line.
  struct Peer {
    std::string ip;
    std::string session;
  };
  // Checks a password. The answer for a failure is held back by the per-address delay;
  // a locked-out address fails even with the right password. Never logs the password.
  void check_password(const Peer& peer, const std::string& user, const std::string& password,
                      Callback done);
  // Checks an APOP digest against the account's separate APOP secret.
  void check_apop(const Peer& peer, const std::string& user, const std::string& timestamp,
                  const std::string& digest, Callback done);
  void set_policy(auth::LimiterPolicy policy) { limiter_.set_policy(policy); }
  // Drops answers still held back by a delay (shutdown: their sessions are closing).
  void shutdown() { delays_.clear(); }

 private:
  struct Request {
    Peer peer;
    std::string key;  // the limiter's key: the IPv4 address, or the IPv6 /64
    std::string user;
    std::string secret;     // password or APOP digest
    std::string timestamp;  // APOP only
    bool apop = false;
    Callback done;
  };
  void enqueue(Request request);
  void start_next();
  // Answers after the address's delay; `verified` is false when no hash was checked.
  void finish(Request request, AuthResult result, bool verified);
  void after(std::uint64_t ms, std::function<void()> fire);

  Context& context_;
  auth::Limiter limiter_;
  std::deque<Request> waiting_;
  int running_ = 0;
  std::list<std::unique_ptr<net::Timer>> delays_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace postroom::service
