// Recording a relay attempt: per-recipient queue states, retry times, expiry and bounces.
#include "relay_record.hpp"

#include "postroom/base/log.hpp"
#include "postroom/relay/dsn.hpp"

namespace postroom::service {

namespace {

std::int64_t unix_seconds(relay::Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
}

relay::Clock::time_point from_unix(std::int64_t seconds) {
  return relay::Clock::time_point(std::chrono::seconds(seconds));
}

}  // namespace

store::AttemptRecord decide(const RecordInput& input, const config::Config& config,
                            relay::Clock::time_point now) {
  using store::RecipientState;
  store::AttemptRecord record;
  record.queue_id = input.queue_id;
  relay::DsnInput dsn;
  dsn.reporting_mta = config.hostname;
  dsn.original_sender = input.sender;
  dsn.arrival_date = from_unix(input.created_at);
  dsn.now = now;
  dsn.queue_id = input.queue_id;
  dsn.original_headers = input.headers;
  dsn.headers_truncated = input.headers_truncated;
  for (std::size_t i = 0; i < input.results.size() && i < input.rows.size(); ++i) {
    const auto& result = input.results[i];
    store::AttemptResult r;
    r.row = input.rows[i].row;
    r.address = result.address;
    r.remote_host = result.remote_host;
    r.reply = result.reply;
    r.next_attempt = unix_seconds(now);
    switch (result.kind) {
      case relay::Outcome::delivered:
        r.state = RecipientState::delivered;
        break;
      case relay::Outcome::temporary: {
        auto next = relay::next_attempt(static_cast<int>(input.rows[i].attempts) + 1,
                                        config.relay.retry_schedule, from_unix(input.created_at),
                                        now, config.relay.max_queue_age);
        if (!next.expired) {
          r.state = RecipientState::deferred;
          r.next_attempt = unix_seconds(next.at);
          break;
        }
        // RFC 5321 §4.5.4.1: give up after the queue lifetime and tell the sender.
        r.state = RecipientState::bounced;
        r.reply = result.reply + " (gave up: message older than max_queue_age)";
        break;
      }
      case relay::Outcome::permanent:
        r.state = RecipientState::bounced;
        break;
    }
    if (r.state == RecipientState::bounced) {
      relay::DsnRecipient failed;
      failed.address = result.address;
      failed.action = relay::DsnAction::failed;
      failed.status = result.status;
      failed.diagnostic = result.reply;
      // Only a host that answered is a Remote-MTA; our own words name none.
      if (result.code != 0) failed.remote_mta = result.remote_host;
      dsn.recipients.push_back(std::move(failed));
    }
    record.recipients.push_back(std::move(r));
  }
  if (!dsn.recipients.empty()) {
    if (!relay::should_bounce(input.sender)) {
      log_line("relay queue=", input.queue_id,
               " no bounce: the message came from the null sender (RFC 5321 §6.1)");
    } else if (auto composed = relay::compose_dsn(dsn); composed) {
      record.bounce = store::Bounce{input.sender, std::move(*composed)};
    } else {
      log_line("relay queue=", input.queue_id,
               " cannot compose a bounce: ", composed.error().message);
    }
  }
  return record;
}

}  // namespace postroom::service
