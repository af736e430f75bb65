// The credential check shared by SMTP AUTH and POP3: argon2id off the loop, brute-force defence.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "postroom/auth/fair_queue.hpp"
#include "postroom/auth/limiter.hpp"
#include "postroom/auth/verified_logins.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/devices.hpp"

namespace postroom::service {

struct Context;

// A login made with one of the account's device passwords (store/devices.hpp).
struct DeviceLogin {
  std::int64_t id = 0;
  std::string name;
  std::int64_t rate_per_hour = 0;  // 0: no limit of its own
};

struct AuthResult {
  enum class Outcome { ok, bad_credentials, temp_failure } outcome = Outcome::bad_credentials;
  std::int64_t account_id = 0;
  std::string address;  // the normalized login name
  // Own address and aliases (RFC 6409 check); for a device, those of its --from list.
  std::vector<std::string> sender_addresses;
  std::optional<DeviceLogin> device;  // set when a device password logged in
};

class AuthService {
 public:
  using Callback = std::function<void(AuthResult)>;
  AuthService(Context& context, auth::LimiterPolicy policy);
  ~AuthService();

  // Who is logging in, for the brute-force bookkeeping and the log line.
  // Which protocol asks: a device password works only for those it was given.
  enum class Service { other, pop3, smtp };
  struct Peer {
    std::string ip;
    std::string session;
    Service service = Service::other;
  };
  // Checks a password. Attempts wait in a queue fair per source address (trusted_networks
  // first), one verification in flight per address; the answer for a failure is held back
  // by the delay of that user at that address; a locked-out attempt fails even with the
  // right password, without a hash being computed. Never logs the password.
  // A password shaped like a device password (auth/device_password.hpp) is checked only
  // against the device its selector names, and its failures are counted for that device
  // apart from the main password's: guessing at a device never locks the user out.
  void check_password(const Peer& peer, const std::string& user, const std::string& password,
                      Callback done);
  // Checks an APOP digest against the account's separate APOP secret.
  void check_apop(const Peer& peer, const std::string& user, const std::string& timestamp,
                  const std::string& digest, Callback done);
  void set_policy(auth::LimiterPolicy policy) { limiter_.set_policy(policy); }
  // Drops answers still held back by a delay and attempts still waiting (shutdown: their
  // sessions are closing).
  void shutdown();

 private:
  struct Request {
    Peer peer;
    std::string key;  // the limiter's key: the IPv4 address, or the IPv6 /64
    std::string user;
    std::string secret;     // password or APOP digest
    std::string timestamp;  // APOP only
    bool apop = false;
    std::uint64_t digest = 0;  // secret_digest(secret): tells a repeated wrong secret
    Callback done;
    std::string limit_user = {};  // the limiter's user: the login name, or name+device selector
    Service service = Service::other;
    std::optional<std::string> selector = std::nullopt;  // a device password's
    bool not_permitted = false;  // a right device password for a protocol it lacks
    bool remembered = false;     // passed by the verified-login cache, without argon2id
  };
  void enqueue(Request request);
  // Starts verifications while slots are free, in the fair queue's order; refuses without
  // a hash what the limiter refuses by now.
  void start_next();
  void verify(std::string key, Request request);
  // The argon2id check against the hash found (account or device) on the thread pool, then
  // the sender addresses; `device` is null on the main password's path.
  void verify_hash(std::string key, std::shared_ptr<Request> request,
                   std::shared_ptr<AuthResult> result,
                   std::shared_ptr<std::optional<store::Account>> account,
                   std::shared_ptr<std::optional<store::Device>> device);
  // What follows the password check (`ok`): the protocol rights of a device, then the
  // sender addresses.
  void checked(std::string key, std::shared_ptr<Request> request,
               std::shared_ptr<AuthResult> result,
               std::shared_ptr<std::optional<store::Account>> account,
               std::shared_ptr<std::optional<store::Device>> device, bool ok);
  // Records a device's last use through the writer, at most once a minute per device and
  // address: a phone that polls every minute must not cost a write each time.
  void record_device_use(std::int64_t device, const std::string& ip);
  // Wakes start_next when the earliest attempt held back by a delay becomes ready.
  void schedule_wake(auth::Limiter::Clock::time_point now);
  // Fails a locked-out attempt without verifying it.
  void refuse(Request request);
  // A verification's end: its answer, its slot and its address's turn given back.
  void verified(std::string key, const std::shared_ptr<Request>& request,
                const std::shared_ptr<AuthResult>& result);
  // Answers after the delay of that user at that address; `verified` is false when no hash
  // was checked. Logs the attempt's one line.
  void finish(Request request, AuthResult result, bool verified);
  void after(std::uint64_t ms, std::function<void()> fire);
  bool trusted(const std::string& ip) const;
  // The fair queue's level for an address: 0 trusted_networks, 1 no recent failures, 2 others.
  std::size_t queue_level(const std::string& ip, const std::string& key);

  Context& context_;
  auth::Limiter limiter_;
  auth::FairQueue<Request> waiting_;
  int running_ = 0;
  std::unique_ptr<net::Timer> wake_;
  std::list<std::unique_ptr<net::Timer>> delays_;
  std::unordered_map<std::int64_t, std::pair<std::string, std::int64_t>> device_uses_;
  // Shared with the pool threads, which compute a digest while they hold the password.
  std::shared_ptr<auth::VerifiedLogins> verified_logins_ = std::make_shared<auth::VerifiedLogins>();
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace postroom::service
