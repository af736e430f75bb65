// Counting messages and new recipients per sender in sliding windows.
#include "postroom/service/outbound_counter.hpp"

#include <algorithm>

namespace postroom::service {

void OutboundCounter::prune(Subject& s, std::int64_t now) {
  std::int64_t oldest_bucket = (now - kDaySeconds) / kBucketSeconds + 1;
  s.buckets.erase(s.buckets.begin(), s.buckets.lower_bound(oldest_bucket));
  std::erase_if(s.recipients, [&](const auto& r) { return r.second <= now - kDaySeconds; });
}

OutboundCounter::Decision OutboundCounter::admit(const std::string& subject,
                                                 const std::vector<std::string>& recipients,
                                                 std::int64_t now,
                                                 const OutboundLimitValues& limits) {
  Subject& s = subjects_[subject];
  prune(s, now);
  std::int64_t current = now / kBucketSeconds;
  std::int64_t hour_from = current - (3600 / kBucketSeconds - 1);
  std::size_t hour = 0, day = 0;
  for (const auto& [bucket, messages] : s.buckets) {
    day += static_cast<std::size_t>(messages);
    if (bucket >= hour_from) hour += static_cast<std::size_t>(messages);
  }
  std::vector<std::string> fresh;
  if (limits.new_recipients_per_day > 0) {
    for (const auto& r : recipients) {
      if (!s.recipients.contains(r) && std::find(fresh.begin(), fresh.end(), r) == fresh.end())
        fresh.push_back(r);
    }
  }
  Decision d;
  if (limits.messages_per_hour > 0 && hour + 1 > limits.messages_per_hour) {
    d = {false, "messages per hour", limits.messages_per_hour, false};
  } else if (limits.messages_per_day > 0 && day + 1 > limits.messages_per_day) {
    d = {false, "messages per day", limits.messages_per_day, false};
  } else if (limits.new_recipients_per_day > 0 &&
             s.recipients.size() + fresh.size() > limits.new_recipients_per_day) {
    d = {false, "new recipients per day", limits.new_recipients_per_day, false};
  }
  if (!d.allowed) {
    std::int64_t today = now / kDaySeconds;
    if (s.notice_day != today) {
      s.notice_day = today;
      d.notify = true;
      dirty_notices_.insert(subject);
    }
    return d;
  }
  ++s.buckets[current];
  dirty_buckets_.insert({subject, current});
  for (auto& r : fresh) {
    dirty_recipients_.insert({subject, r});
    s.recipients.emplace(std::move(r), now);
  }
  return d;
}

void OutboundCounter::load(const store::OutboundCounts& rows) {
  for (const auto& b : rows.buckets) subjects_[b.subject].buckets[b.bucket] = b.messages;
  for (const auto& r : rows.recipients) subjects_[r.subject].recipients[r.recipient] = r.first_seen;
  for (const auto& n : rows.notices) subjects_[n.subject].notice_day = n.day;
}

void OutboundCounter::not_saved(const store::OutboundCounts& rows) {
  for (const auto& b : rows.buckets) dirty_buckets_.insert({b.subject, b.bucket});
  for (const auto& r : rows.recipients) dirty_recipients_.insert({r.subject, r.recipient});
  for (const auto& n : rows.notices) dirty_notices_.insert(n.subject);
}

store::OutboundCounts OutboundCounter::take_changes() {
  store::OutboundCounts out;
  for (const auto& [subject, bucket] : dirty_buckets_) {
    auto s = subjects_.find(subject);
    if (s == subjects_.end()) continue;
    auto b = s->second.buckets.find(bucket);
    if (b != s->second.buckets.end()) out.buckets.push_back({subject, bucket, b->second});
  }
  for (const auto& [subject, recipient] : dirty_recipients_) {
    auto s = subjects_.find(subject);
    if (s == subjects_.end()) continue;
    auto r = s->second.recipients.find(recipient);
    if (r != s->second.recipients.end()) out.recipients.push_back({subject, recipient, r->second});
  }
  for (const auto& subject : dirty_notices_) {
    auto s = subjects_.find(subject);
    if (s != subjects_.end()) out.notices.push_back({subject, s->second.notice_day});
  }
  dirty_buckets_.clear();
  dirty_recipients_.clear();
  dirty_notices_.clear();
  // Senders with nothing left in the window are forgotten (memory stays bounded).
  std::erase_if(subjects_, [](const auto& entry) {
    const Subject& s = entry.second;
    return s.buckets.empty() && s.recipients.empty() && s.notice_day < 0;
  });
  return out;
}

}  // namespace postroom::service
