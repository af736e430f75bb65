// How much each sender has sent out lately, against the outbound limits: plain counting,
// no I/O, so every rule is a unit test.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "postroom/store/outbound_counts.hpp"

namespace postroom::service {

struct OutboundLimitValues {
  std::size_t messages_per_hour = 0;  // 0: no limit
  std::size_t messages_per_day = 0;
  std::size_t new_recipients_per_day = 0;
};

// A sender ("subject") is an authenticated user's address, or "trusted_networks" for
// everything relayed without AUTH. Messages are counted in ten-minute buckets, so "the
// last hour" is the last six of them (the current one partly elapsed); a recipient counts
// as new once in 24 hours from when it was first sent to.
class OutboundCounter {
 public:
  static constexpr std::int64_t kBucketSeconds = 600;
  static constexpr std::int64_t kDaySeconds = 86400;

  struct Decision {
    bool allowed = true;
    std::string limit;      // which one was reached: "messages per hour", ...
    std::size_t value = 0;  // its value
    bool notify = false;    // the first refusal of this subject this day (UTC)
  };
  // A message from `subject` to `recipients` (the ones in other domains) at `now` (unix
  // seconds): counted when allowed; when refused nothing is counted.
  Decision admit(const std::string& subject, const std::vector<std::string>& recipients,
                 std::int64_t now, const OutboundLimitValues& limits);

  // Takes rows read back at start.
  void load(const store::OutboundCounts& rows);
  // What changed since the last call, as rows to write.
  store::OutboundCounts take_changes();
  // Rows taken that could not be written (a failed commit, a full disk): they are changes
  // again, written with their current values next time, so a restart cannot forget them.
  void not_saved(const store::OutboundCounts& rows);
  bool has_changes() const {
    return !dirty_buckets_.empty() || !dirty_recipients_.empty() || !dirty_notices_.empty();
  }
  std::size_t subjects() const { return subjects_.size(); }

 private:
  struct Subject {
    std::map<std::int64_t, std::int64_t> buckets;              // bucket -> messages
    std::unordered_map<std::string, std::int64_t> recipients;  // -> first seen
    std::int64_t notice_day = -1;
  };
  void prune(Subject& s, std::int64_t now);

  std::unordered_map<std::string, Subject> subjects_;
  std::set<std::pair<std::string, std::int64_t>> dirty_buckets_;
  std::set<std::pair<std::string, std::string>> dirty_recipients_;
  std::set<std::string> dirty_notices_;
};

}  // namespace postroom::service
