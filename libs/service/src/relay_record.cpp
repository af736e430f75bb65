// Recording a relay attempt: per-recipient queue states, retry times, expiry and bounces.
#include "relay_record.hpp"

#include <algorithm>
#include <cctype>

#include "postroom/base/log.hpp"
#include "postroom/relay/dsn.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/queue.hpp"

namespace postroom::service {

namespace {

std::int64_t unix_seconds(relay::Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
}

relay::Clock::time_point from_unix(std::int64_t seconds) {
  return relay::Clock::time_point(std::chrono::seconds(seconds));
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

AttemptRecord decide(const RecordInput& input, const config::Config& config,
                     relay::Clock::time_point now) {
  AttemptRecord record;
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
    RecordedRecipient r;
    r.row = input.rows[i].row;
    r.address = result.address;
    r.remote_host = result.remote_host;
    r.reply = result.reply;
    r.next_attempt = unix_seconds(now);
    switch (result.kind) {
      case relay::Outcome::delivered:
        r.state = "delivered";
        break;
      case relay::Outcome::temporary: {
        auto next = relay::next_attempt(static_cast<int>(input.rows[i].attempts) + 1,
                                        config.relay.retry_schedule, from_unix(input.created_at),
                                        now, config.relay.max_queue_age);
        if (!next.expired) {
          r.state = "deferred";
          r.next_attempt = unix_seconds(next.at);
          break;
        }
        // RFC 5321 §4.5.4.1: give up after the queue lifetime and tell the sender.
        r.state = "bounced";
        r.reply = result.reply + " (gave up: message older than max_queue_age)";
        break;
      }
      case relay::Outcome::permanent:
        r.state = "bounced";
        break;
    }
    if (r.state == "bounced") {
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
      record.bounce = std::move(*composed);
      record.bounce_to = input.sender;
    } else {
      log_line("relay queue=", input.queue_id,
               " cannot compose a bounce: ", composed.error().message);
    }
  }
  return record;
}

namespace {

// Stores the bounce as a new message: into the sender's mailbox when the sender is ours
// (aliases expanded), else queued from the null sender.
Result<void> store_bounce(store::Database& db, const AttemptRecord& record,
                          const std::function<bool(std::string_view)>& is_local_domain) {
  auto route = store::resolve_recipient(db, lower(record.bounce_to), is_local_domain);
  if (!route) return std::unexpected(route.error());
  if (route->accounts.empty() && route->remote.empty()) {
    log_line("relay queue=", record.queue_id, " bounce to ", record.bounce_to,
             " dropped: no such local mailbox");
    return {};
  }
  // RFC 5321 §4.4: the trace line local delivery adds; the relay strips it again.
  std::string message = "Return-Path: <>\r\n" + *record.bounce;
  auto content = store::create_content(db);
  if (!content) return std::unexpected(content.error());
  store::SizeCounter sizes;
  std::int64_t seq = 0;
  for (std::size_t at = 0; at < message.size(); at += store::kChunkSize) {
    std::string_view chunk = std::string_view(message).substr(at, store::kChunkSize);
    sizes.add(chunk);
    if (auto r = store::append_chunk(db, *content, seq++, chunk); !r) return r;
  }
  std::optional<store::QueueRequest> queue;
  if (!route->remote.empty()) {
    store::QueueRequest request;
    request.sender = "";
    request.recipients = route->remote;
    request.smtputf8 = std::any_of(route->remote.begin(), route->remote.end(),
                                   [](const std::string& a) { return !is_ascii(a); });
    request.body_8bit = !is_ascii(*record.bounce);
    queue = std::move(request);
  }
  auto stored = store::complete_content(db, *content, sizes.size(), sizes.pop3_size(),
                                        route->accounts, queue);
  if (!stored) return std::unexpected(stored.error());
  log_line("relay queue=", record.queue_id, " bounce to ", record.bounce_to,
           stored->queue_id.empty() ? " delivered locally" : " queued as " + stored->queue_id);
  return {};
}

}  // namespace

Result<void> store_record(store::Database& db, const AttemptRecord& record, std::int64_t now,
                          const std::function<bool(std::string_view)>& is_local_domain) {
  for (const auto& r : record.recipients) {
    if (auto done =
            store::record_attempt(db, r.row, r.state, r.next_attempt, r.remote_host, r.reply, now);
        !done)
      return done;
  }
  if (record.bounce) return store_bounce(db, record, is_local_domain);
  return {};
}

}  // namespace postroom::service
