// The outbound limits at work: a message filter that refuses a sender over its limit with
// 451 4.7.0, a notice for the postmaster once per sender and day, and the counters saved
// through the store writer every few seconds and at stop (never one write per message).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "postroom/net/handles.hpp"
#include "postroom/service/message_filter.hpp"
#include "postroom/service/outbound_counter.hpp"

namespace postroom::service {

struct Context;

class OutboundLimits : public std::enable_shared_from_this<OutboundLimits> {
 public:
  explicit OutboundLimits(Context& context);

  // Rows read from the database at start (before the writer runs).
  void load(const store::OutboundCounts& rows) { counter_.load(rows); }
  // Starts saving the counters periodically.
  void start();
  // Saves what is left and stops the timer; the writer commits it before it stops.
  void stop();
  // The filter factory for Context::filters: a filter for messages from an authenticated
  // user or trusted_networks with a recipient in another domain, nothing otherwise.
  FilterFactory factory();

  // The decision for one message (what the filter applies); public for tests.
  FilterVerdict check(const FilterEnvelope& envelope, std::int64_t now);

 private:
  void save();
  void notify(const std::string& subject, const OutboundCounter::Decision& decision,
              std::int64_t now);

  Context& context_;
  OutboundCounter counter_;
  std::unique_ptr<net::Timer> timer_;
  bool saving_ = false;  // one save in flight at a time, so rows are written in order
};

// The subject a message is counted under, or empty when the limits do not apply to it.
std::string outbound_subject(const FilterEnvelope& envelope);
// The subject a device password's own rate is counted under ("device:ID"), or empty.
std::string device_subject(const FilterEnvelope& envelope);

}  // namespace postroom::service
