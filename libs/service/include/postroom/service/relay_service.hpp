// The queue runner: finds due recipients, delivers them through the smarthost or by MX
// with bounded concurrency, and records every result durably.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "postroom/net/handles.hpp"
#include "postroom/net/resolver.hpp"
#include "postroom/net/tls.hpp"
#include "postroom/service/context.hpp"

namespace postroom::store {
struct QueuedMessage;
}

namespace postroom::service {

class TlsPolicySource;

class DeliveryAttempt;
struct AttemptReport;

// At most this many connections to one recipient domain and in total, so one busy domain
// neither floods its server nor starves the rest. The smarthost is the provider's relay,
// there to take all of the office's mail: it gets more (Postfix allows any destination 20).
inline constexpr int kMaxAttemptsPerDestination = 5;
inline constexpr int kMaxAttemptsToSmarthost = 10;
inline constexpr int kMaxAttemptsTotal = 20;
// Messages one connection carries before QUIT (relay::ReuseLimits says why a bound).
inline constexpr std::size_t kMaxMessagesPerConnection = 100;

class RelayService {
 public:
  explicit RelayService(Context& context);
  ~RelayService();
  RelayService(const RelayService&) = delete;

  // Reads the relay config and starts polling: at once, then every second (so
  // `postroom queue retry` takes effect within 2 s, interface.md).
  void start();
  // New mail was queued: look now rather than at the next tick.
  void wake();
  // context.config changed (SIGHUP): TLS contexts and the resolver follow it; attempts
  // in flight finish with what they started with.
  void reload();
  // SIGTERM: start nothing more, cut connections in flight without recording them (the
  // recipients stay due: delivered twice at worst, never lost), close every handle.
  void stop();

  std::size_t in_flight() const { return attempts_.size(); }

 private:
  struct Running {
    std::shared_ptr<DeliveryAttempt> attempt;
    std::string destination;
    std::uint64_t generation = 0;  // the configuration it was started with
  };
  // Due recipients of one message for one destination that no attempt has taken yet.
  struct Pending {
    std::shared_ptr<const store::QueuedMessage> message;
    std::vector<std::size_t> recipient_indexes;
  };
  struct Job;

  void configure();
  void tick();
  void poll();
  void dispatch(std::vector<store::QueuedMessage>& messages, std::uint64_t poll_seq);
  void launch(const store::QueuedMessage& message, const std::string& destination,
              const std::vector<std::size_t>& recipient_indexes);
  // The attempt's job for these recipients, and its report callback; marks the rows in flight.
  Job make_job(const store::QueuedMessage& message,
               const std::vector<std::size_t>& recipient_indexes);
  // Hands the recipients to an idle attempt to `destination`; false when there is none.
  bool hand_to_idle(const store::QueuedMessage& message, const std::string& destination,
                    const std::vector<std::size_t>& recipient_indexes);
  // An attempt's connection is free: give it the next pending job for its destination.
  void idle(DeliveryAttempt* attempt);
  // Ends one idle attempt to another destination than `except`, to free a slot.
  void release_idle(const std::string& except);
  bool row_busy(std::int64_t row) const;
  void record(const store::QueuedMessage& message, std::vector<std::int64_t> rows,
              std::vector<std::int64_t> attempts, AttemptReport report);
  void finished(DeliveryAttempt* attempt);

  Context& context_;
  std::unique_ptr<net::Timer> ticker_;
  std::shared_ptr<net::Resolver> resolver_;
  std::vector<Endpoint> resolver_servers_;
  std::shared_ptr<net::TlsContext> tls_for(bool smarthost);  // created on first use
  std::shared_ptr<net::TlsContext> smarthost_tls_;           // verifying (ca_file or system CAs)
  // Direct MX: verifies only what a policy (MTA-STS, DANE) asks for, per connection.
  std::shared_ptr<net::TlsContext> opportunistic_tls_;
  std::shared_ptr<TlsPolicySource> policies_;  // MTA-STS and DANE lookups (direct mode)

  std::unordered_map<DeliveryAttempt*, Running> attempts_;
  // What the last poll found that no attempt could take then, per destination, in due
  // order: an attempt whose connection becomes free takes the next without a poll. Every
  // poll replaces it, so it never outlives the row states it was read with.
  std::map<std::string, std::deque<Pending>> pending_;
  std::uint64_t generation_ = 0;  // configurations loaded (reload)
  std::map<std::string, int> per_destination_;
  // Recipient rows an attempt is working on, and rows whose result was committed while
  // a poll may have been reading the old state: such a row stays blocked until a poll
  // numbered above the value returns (it started after the commit).
  std::set<std::int64_t> in_flight_rows_;
  std::map<std::int64_t, std::uint64_t> settling_rows_;
  std::uint64_t poll_seq_ = 0;
  bool polling_ = false;
  bool poll_again_ = false;
  bool stopping_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace postroom::service
