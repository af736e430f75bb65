// The store's health probe: a heartbeat write and the outbound queue's size, in one job.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/store/database.hpp"

namespace postroom::store {

struct StoreHealth {
  std::int64_t queued_recipients = 0;  // waiting for a (next) delivery attempt
  // created_at of the oldest message with a recipient still waiting; none when empty.
  std::optional<std::int64_t> oldest_queued_at;
  // Room left for unprivileged writers on the database's file system; none if unknown.
  std::optional<std::uint64_t> disk_free_bytes;
};

// Rewrites the heartbeat row with `now` (so the caller learns whether a write commits), reads
// the queue's depth and the disk's free space; meant to run as one write job (off the loop).
Result<StoreHealth> heartbeat(Database& db, std::int64_t now);

// The outbound queue as `postroom status` summarizes it (reads only).
struct QueueOverview {
  std::int64_t waiting_recipients = 0;  // queued or deferred
  std::int64_t waiting_messages = 0;
  std::int64_t deferred_recipients = 0;  // waiting after at least one failed attempt
  struct Deferred {
    std::string queue_id;
    std::string recipient;
    std::int64_t queued_at = 0;
    std::int64_t attempts = 0;
    std::int64_t next_attempt = 0;
    std::string last_reply;
  };
  std::optional<Deferred> oldest_deferred;  // the recipient of the oldest deferred message
  struct Failure {
    std::int64_t at = 0;
    std::string queue_id;
    std::string recipient;
    std::string state;
    std::string remote_host;
    std::string reply;
  };
  // The latest attempts that did not deliver, of messages still queued, newest first.
  std::vector<Failure> recent_failures;
};
Result<QueueOverview> queue_overview(Database& db, int failures);

}  // namespace postroom::store
