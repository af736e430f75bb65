// The queue runner: polls due recipients, groups them per destination, limits
// concurrency, runs delivery attempts and records their results in one writer job each.
#include "postroom/service/relay_service.hpp"

#include <algorithm>
#include <ctime>

#include "delivery_attempt.hpp"
#include "postroom/base/log.hpp"
#include "postroom/service/srs_routing.hpp"
#include "postroom/store/mail_store.hpp"
#include "relay_record.hpp"
#include "tls_policy_source.hpp"

namespace postroom::service {

namespace {

// Messages read per poll; more wait for the next poll, which comes as soon as a slot frees.
constexpr int kPollBatch = 100;
// interface.md: `postroom queue retry` takes effect within 2 s.
constexpr std::uint64_t kPollIntervalMs = 1000;

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? address : address.substr(at + 1);
}

std::vector<std::string> server_list(const std::vector<Endpoint>& servers) {
  std::vector<std::string> out;
  for (const auto& s : servers) out.push_back(s.str());
  return out;
}

// A reply inside reply="..." must not end the field early.
std::string quoted(std::string text) {
  std::replace(text.begin(), text.end(), '"', '\'');
  return text;
}

}  // namespace

RelayService::RelayService(Context& context) : context_(context) {}

RelayService::~RelayService() {
  stop();
}

void RelayService::start() {
  configure();
  ticker_ = std::make_unique<net::Timer>(context_.loop);
  tick();
}

void RelayService::configure() {
  const auto& relay = context_.config->relay;
  if (!resolver_ || server_list(relay.dns_servers) != server_list(resolver_servers_)) {
    auto created = net::Resolver::create(context_.loop, relay.dns_servers);
    if (!created) {
      log_line("relay: cannot start the DNS resolver: ", created.error().message);
    } else {
      resolver_ = std::shared_ptr<net::Resolver>(std::move(*created));
      resolver_servers_ = relay.dns_servers;
    }
  }
  // Built on first use (tls_for): an office that relays nothing never loads the CA store.
  smarthost_tls_.reset();
  opportunistic_tls_.reset();
  // A reload starts with a fresh MTA-STS cache: the policy keys may have changed.
  policies_.reset();
  if (resolver_ && relay.mode == config::RelayMode::direct &&
      (relay.tls_policy.mta_sts || relay.tls_policy.dane))
    policies_ = std::make_shared<TlsPolicySource>(context_.loop, relay.tls_policy,
                                                  relay.dns_servers, resolver_);
}

std::shared_ptr<net::TlsContext> RelayService::tls_for(bool smarthost) {
  const auto& relay = context_.config->relay;
  if (smarthost) {
    if (!smarthost_tls_ && relay.smarthost && relay.smarthost->tls != config::SmarthostTls::none) {
      auto tls = net::TlsContext::client(true, relay.smarthost->ca_file);
      if (tls)
        smarthost_tls_ = *tls;
      else
        log_line("relay: cannot set up TLS for the smarthost: ", tls.error().message);
    }
    return smarthost_tls_;
  }
  if (!opportunistic_tls_) {
    // RFC 7435 opportunistic security: encrypt when offered and verify nothing, since an
    // MX host's name is not authenticated by plain DNS, unless MTA-STS or DANE says how
    // (each connection then carries its own check).
    auto tls = net::TlsContext::client_checking(relay.tls_policy.ca_file);
    if (tls)
      opportunistic_tls_ = *tls;
    else
      log_line("relay: cannot set up TLS for direct delivery: ", tls.error().message);
  }
  return opportunistic_tls_;
}

void RelayService::reload() {
  if (stopping_) return;
  configure();
  // Open connections were made with the old settings (smarthost, TLS, credentials): they
  // take no more jobs.
  ++generation_;
  for (auto& [key, running] : attempts_)
    if (running.attempt->idle()) running.attempt->release();
  poll();
}

void RelayService::wake() {
  if (!stopping_) poll();
}

void RelayService::tick() {
  if (stopping_ || !ticker_) return;
  poll();
  ticker_->start(kPollIntervalMs, [this] { tick(); });
}

void RelayService::poll() {
  if (stopping_) return;
  if (polling_) {
    poll_again_ = true;
    return;
  }
  polling_ = true;
  std::uint64_t seq = ++poll_seq_;
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  std::weak_ptr<bool> alive = alive_;
  context_.store->due_messages(
      now, kPollBatch, [this, alive, seq](Result<std::vector<store::QueuedMessage>> due) {
        if (alive.expired()) return;
        polling_ = false;
        if (stopping_) return;
        if (!due) {
          log_line("relay: reading the queue failed: ", due.error().message);
        } else {
          dispatch(*due, seq);
        }
        if (poll_again_) {
          poll_again_ = false;
          poll();
        }
      });
}

bool RelayService::row_busy(std::int64_t row) const {
  return in_flight_rows_.contains(row) || settling_rows_.contains(row);
}

void RelayService::dispatch(std::vector<store::QueuedMessage>& messages, std::uint64_t poll_seq) {
  // This poll started after these rows' results were committed: it saw them fresh.
  std::erase_if(settling_rows_, [poll_seq](const auto& entry) { return entry.second < poll_seq; });
  pending_.clear();
  const auto& config = *context_.config;
  bool smarthost = config.relay.mode == config::RelayMode::smarthost;
  if (smarthost && !config.relay.smarthost) {
    log_line("relay: relay.mode is smarthost but relay.smarthost is missing");
    return;
  }
  for (auto& message : messages) {
    std::map<std::string, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < message.recipients.size(); ++i) {
      if (row_busy(message.recipients[i].row)) continue;
      groups[smarthost ? std::string("smarthost") : domain_of(message.recipients[i].recipient)]
          .push_back(i);
    }
    if (groups.empty()) continue;
    std::shared_ptr<const store::QueuedMessage> shared;
    for (const auto& [destination, indexes] : groups) {
      const store::QueuedMessage& current = shared ? *shared : message;
      if (hand_to_idle(current, destination, indexes)) continue;
      bool destination_full = per_destination_[destination] >=
                              (smarthost ? kMaxAttemptsToSmarthost : kMaxAttemptsPerDestination);
      bool total_full = attempts_.size() >= static_cast<std::size_t>(kMaxAttemptsTotal);
      // An idle connection to another destination gives its slot up (it frees when its QUIT
      // is answered, and finished() polls again then).
      if (total_full && !destination_full) release_idle(destination);
      if (total_full || destination_full) {
        if (!shared) shared = std::make_shared<const store::QueuedMessage>(std::move(message));
        pending_[destination].push_back({shared, indexes});
        continue;
      }
      launch(current, destination, indexes);
    }
  }
}

struct RelayService::Job {
  AttemptJob job;
  std::function<void(AttemptReport)> on_report;
};

RelayService::Job RelayService::make_job(const store::QueuedMessage& message,
                                         const std::vector<std::size_t>& recipient_indexes) {
  Job out;
  AttemptJob& job = out.job;
  job.queue_id = message.queue_id;
  job.content_id = message.content_id;
  job.sender = relay_sender(context_, message.sender);  // SRS for forwarded mail
  job.smtputf8 = message.smtputf8;
  job.body_8bit = message.body_8bit;
  job.size = message.size;
  std::vector<std::int64_t> rows, attempts;
  for (std::size_t i : recipient_indexes) {
    job.recipients.push_back(message.recipients[i].recipient);
    rows.push_back(message.recipients[i].row);
    attempts.push_back(message.recipients[i].attempts);
  }
  for (auto row : rows) in_flight_rows_.insert(row);
  std::weak_ptr<bool> alive = alive_;
  store::QueuedMessage summary;
  summary.queue_id = message.queue_id;
  summary.sender = message.sender;
  summary.created_at = message.created_at;
  out.on_report = [this, alive, summary, rows, attempts](AttemptReport report) {
    if (!alive.expired()) record(summary, rows, attempts, std::move(report));
  };
  return out;
}

bool RelayService::hand_to_idle(const store::QueuedMessage& message, const std::string& destination,
                                const std::vector<std::size_t>& recipient_indexes) {
  for (auto& [key, running] : attempts_) {
    if (running.destination != destination || running.generation != generation_ ||
        !running.attempt->idle())
      continue;
    Job job = make_job(message, recipient_indexes);
    running.attempt->next(std::move(job.job), std::move(job.on_report));
    return true;
  }
  return false;
}

void RelayService::idle(DeliveryAttempt* attempt) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  Running& running = it->second;
  if (stopping_ || running.generation != generation_) return attempt->release();
  auto pending = pending_.find(running.destination);
  while (pending != pending_.end() && !pending->second.empty()) {
    Pending next = std::move(pending->second.front());
    pending->second.pop_front();
    // Another attempt may have taken some of these recipients since the poll.
    std::erase_if(next.recipient_indexes,
                  [&](std::size_t i) { return row_busy(next.message->recipients[i].row); });
    if (next.recipient_indexes.empty()) continue;
    Job job = make_job(*next.message, next.recipient_indexes);
    return attempt->next(std::move(job.job), std::move(job.on_report));
  }
  // Nothing known: look at the queue (new mail may be waiting); the attempt waits for
  // that poll's dispatch, or gives its connection up after its idle time.
  poll();
}

void RelayService::release_idle(const std::string& except) {
  for (auto& [key, running] : attempts_) {
    if (running.destination == except || !running.attempt->idle()) continue;
    running.attempt->release();
    return;
  }
}

void RelayService::launch(const store::QueuedMessage& message, const std::string& destination,
                          const std::vector<std::size_t>& recipient_indexes) {
  const auto& config = *context_.config;
  AttemptTarget target;
  if (config.relay.mode == config::RelayMode::smarthost) {
    const auto& smarthost = *config.relay.smarthost;
    target.host = smarthost.host;
    target.port = smarthost.port;
    switch (smarthost.tls) {
      case config::SmarthostTls::starttls:
        target.tls = relay::TlsMode::required;
        break;
      case config::SmarthostTls::implicit:
        target.tls = relay::TlsMode::implicit;
        break;
      case config::SmarthostTls::none:
        target.tls = relay::TlsMode::none;
        break;
    }
    target.tls_context = tls_for(true);
    target.username = smarthost.username;
    target.password_file = smarthost.password_file;
  } else {
    target.direct = true;
    target.host = destination;
    target.port = 25;  // MX hosts take relayed mail on the SMTP port
    target.tls = relay::TlsMode::opportunistic;
    target.tls_context = tls_for(false);
    target.policies = policies_;
  }
  target.reuse.max_messages = kMaxMessagesPerConnection;
  Job job = make_job(message, recipient_indexes);
  auto attempt =
      std::make_shared<DeliveryAttempt>(context_, resolver_, std::move(target), std::move(job.job));
  DeliveryAttempt* key = attempt.get();
  std::weak_ptr<bool> alive = alive_;
  attempt->on_report = std::move(job.on_report);
  attempt->on_idle = [this, alive, key] {
    if (!alive.expired()) idle(key);
  };
  attempt->on_finished = [this, alive, key] {
    if (!alive.expired()) finished(key);
  };
  ++per_destination_[destination];
  attempts_.emplace(key, Running{attempt, destination, generation_});
  attempt->start();
}

void RelayService::record(const store::QueuedMessage& message, std::vector<std::int64_t> rows,
                          std::vector<std::int64_t> attempts, AttemptReport report) {
  RecordInput input;
  input.queue_id = message.queue_id;
  input.sender = message.sender;
  input.created_at = message.created_at;
  for (std::size_t i = 0; i < rows.size(); ++i) input.rows.push_back({rows[i], attempts[i]});
  input.results = std::move(report.results);
  input.headers = std::move(report.headers);
  input.headers_truncated = report.headers_truncated;
  auto now = relay::Clock::now();
  auto decided = std::make_shared<store::AttemptRecord>(decide(input, *context_.config, now));
  auto config = context_.config;
  std::weak_ptr<bool> alive = alive_;
  context_.store->record_attempt(
      *decided, [config](std::string_view domain) { return config->is_local_domain(domain); },
      [this, alive, decided, rows](Result<store::BounceStored> bounce) {
        // The log follows the commit, so whoever reads it finds the queue already updated.
        for (const auto& recipient : decided->recipients) {
          if (bounce) context_.metrics.relay_outcome(store::to_string(recipient.state));
          if (bounce && recipient.state != store::RecipientState::delivered)
            context_.recent.delivery_error({std::time(nullptr), decided->queue_id,
                                            recipient.address,
                                            std::string(store::to_string(recipient.state)),
                                            recipient.remote_host, recipient.reply});
          log_line("relay queue=", decided->queue_id, " rcpt=", recipient.address,
                   " host=", recipient.remote_host.empty() ? "none" : recipient.remote_host,
                   " result=", store::to_string(recipient.state), " reply=\"",
                   quoted(recipient.reply), "\"",
                   bounce ? "" : " record_error=\"" + quoted(bounce.error().message) + "\"");
        }
        if (bounce && decided->bounce) {
          using Where = store::BounceStored::Where;
          log_line("relay queue=", decided->queue_id, " bounce to ", decided->bounce->to,
                   bounce->where == Where::dropped   ? " dropped: no such local mailbox"
                   : bounce->where == Where::mailbox ? " delivered locally"
                                                     : " queued as " + bounce->queue_id);
        }
        if (alive.expired()) return;
        for (auto row : rows) {
          in_flight_rows_.erase(row);
          settling_rows_[row] = poll_seq_;
        }
        // A finished attempt polls for the freed slot already (finished()); another poll is
        // needed only for a bounce this commit put in the queue.
        if (!stopping_ && bounce && bounce->where == store::BounceStored::Where::queue) poll();
      });
}

void RelayService::finished(DeliveryAttempt* attempt) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  if (--per_destination_[it->second.destination] <= 0)
    per_destination_.erase(it->second.destination);
  // The attempt stays alive until its own callback returns (the caller holds a reference).
  attempts_.erase(it);
  if (!stopping_) poll();
}

void RelayService::stop() {
  if (stopping_) return;
  stopping_ = true;
  ticker_.reset();
  if (!attempts_.empty()) log_line("relay stopping: ", attempts_.size(), " attempt(s) cut");
  auto running = std::move(attempts_);
  attempts_.clear();
  for (auto& [key, entry] : running) entry.attempt->abort();
  running.clear();
  per_destination_.clear();
  resolver_.reset();  // attempts held the only other references
  // Its pools' handles close while the loop still runs (they do not keep it alive).
  policies_.reset();
}

}  // namespace postroom::service
