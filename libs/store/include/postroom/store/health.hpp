// The store's health probe: a heartbeat write and the outbound queue's size, in one job.
#pragma once

#include <cstdint>
#include <optional>

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

}  // namespace postroom::store
