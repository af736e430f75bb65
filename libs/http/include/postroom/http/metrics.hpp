// The daemon's counters and their Prometheus text exposition (format version 0.0.4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postroom::http {

// Counters incremented on the loop thread where each event happens; read by /metrics.
struct Metrics {
  std::uint64_t messages_received = 0;   // a 250 after DATA/BDAT
  std::uint64_t messages_delivered = 0;  // a relay recipient accepted by the next hop
  std::uint64_t messages_deferred = 0;   // a relay attempt that will be retried
  std::uint64_t messages_bounced = 0;    // a relay recipient given up (bounce made)
  // By reason, in the order first seen (a handful of reasons: a vector, no map).
  std::vector<std::pair<std::string, std::uint64_t>> refused;
  std::uint64_t pop3_sessions = 0;
  std::uint64_t pop3_retrievals = 0;  // RETR answered +OK
  std::uint64_t logins_failed = 0;
  std::uint64_t logins_locked_out = 0;  // refused by the lockout without a hash checked

  void refuse(const std::string& reason);
  // A relay recipient's state after an attempt: "delivered", "deferred" or "bounced".
  void relay_outcome(std::string_view state) {
    if (state == "delivered") ++messages_delivered;
    if (state == "deferred") ++messages_deferred;
    if (state == "bounced") ++messages_bounced;
  }
};

// A latency summary of store commits (the group-commit writer's batches).
struct LatencyHistogram {
  std::vector<double> bounds;          // upper bounds in seconds, ascending
  std::vector<std::uint64_t> buckets;  // cumulative counts per bound
  std::uint64_t count = 0;
  double sum = 0;
};

// Gauges sampled when /metrics is asked for.
struct Gauges {
  std::optional<std::int64_t> queue_depth;         // none: the store did not answer
  std::optional<std::int64_t> oldest_queued_age;   // seconds; none when the queue is empty
  std::optional<std::int64_t> certificate_expiry;  // Unix time of notAfter; none without TLS
  std::int64_t connections = 0;
  std::optional<std::uint64_t> disk_free_bytes;  // none: the store did not answer
  LatencyHistogram commit_latency;
};

// The text format of https://prometheus.io/docs/instrumenting/exposition_formats/.
std::string render_metrics(const Metrics& metrics, const Gauges& gauges);

}  // namespace postroom::http
