// Outbound limits: hourly and daily windows, new recipients, one notice a day, persistence.
#include "postroom/service/outbound_counter.hpp"
#include "postroom/service/outbound_limits.hpp"

#include <doctest/doctest.h>

using postroom::service::OutboundCounter;
using postroom::service::OutboundLimitValues;

namespace {
constexpr std::int64_t kStart = 1'790'000'000 - 1'790'000'000 % 86400 + 3600;  // 01:00 UTC
const std::vector<std::string> kOne{"bob@remote.test"};
}  // namespace

TEST_CASE(
    "outbound limits: the message over the hourly limit is refused, once an hour has passed it is "
    "not") {
  OutboundCounter counter;
  OutboundLimitValues limits{3, 100, 100};
  for (int i = 0; i < 3; ++i)
    CHECK(counter.admit("alice@example.test", kOne, kStart + i, limits).allowed);
  auto refused = counter.admit("alice@example.test", kOne, kStart + 10, limits);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.limit == "messages per hour");
  CHECK(refused.value == 3);
  // Another sender is not affected.
  CHECK(counter.admit("carol@example.test", kOne, kStart + 10, limits).allowed);
  CHECK(counter.admit("trusted_networks", kOne, kStart + 10, limits).allowed);
  // An hour (six buckets) later the old messages have left the window.
  CHECK(counter.admit("alice@example.test", kOne, kStart + 3600 + 600, limits).allowed);
}

TEST_CASE("outbound limits: refused messages are not counted") {
  OutboundCounter counter;
  OutboundLimitValues limits{1, 100, 100};
  CHECK(counter.admit("a", kOne, kStart, limits).allowed);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(counter.admit("a", kOne, kStart + 1, limits).allowed);
  // With a higher limit the five refusals did not use it up.
  OutboundLimitValues higher{2, 100, 100};
  CHECK(counter.admit("a", kOne, kStart + 2, higher).allowed);
}

TEST_CASE("outbound limits: the daily limit counts 24 hours") {
  OutboundCounter counter;
  OutboundLimitValues limits{0, 4, 0};
  for (int i = 0; i < 4; ++i) CHECK(counter.admit("a", kOne, kStart + i * 7200, limits).allowed);
  auto refused = counter.admit("a", kOne, kStart + 8 * 3600, limits);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.limit == "messages per day");
  // The first message leaves the window a day after it was sent.
  CHECK(counter.admit("a", kOne, kStart + 86400 + 600, limits).allowed);
}

TEST_CASE("outbound limits: new recipients count once a day, repeated ones are free") {
  OutboundCounter counter;
  OutboundLimitValues limits{0, 0, 3};
  CHECK(counter.admit("a", {"x@r.test", "y@r.test"}, kStart, limits).allowed);
  CHECK(counter.admit("a", {"x@r.test", "y@r.test"}, kStart + 1, limits).allowed);
  CHECK(counter.admit("a", {"x@r.test", "z@r.test"}, kStart + 2, limits).allowed);
  auto refused = counter.admit("a", {"w@r.test"}, kStart + 3, limits);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.limit == "new recipients per day");
  CHECK(counter.admit("a", {"x@r.test", "y@r.test", "z@r.test"}, kStart + 4, limits).allowed);
  // A message with two new recipients where only one fits is refused whole.
  OutboundCounter other;
  CHECK(other.admit("a", {"p@r.test", "q@r.test"}, kStart, limits).allowed);
  CHECK_FALSE(other.admit("a", {"s@r.test", "t@r.test"}, kStart, limits).allowed);
}

TEST_CASE("outbound limits: the postmaster is told once per sender and day") {
  OutboundCounter counter;
  OutboundLimitValues limits{1, 0, 0};
  CHECK(counter.admit("a", kOne, kStart, limits).allowed);
  CHECK(counter.admit("a", kOne, kStart + 1, limits).notify);
  CHECK_FALSE(counter.admit("a", kOne, kStart + 2, limits).notify);
  CHECK(counter.admit("b", kOne, kStart + 2, limits).allowed);
  CHECK(counter.admit("b", kOne, kStart + 3, limits).notify);
  // The next day (and again over the limit), a new notice.
  std::int64_t tomorrow = kStart + 86400;
  CHECK(counter.admit("a", kOne, tomorrow, limits).allowed);
  CHECK(counter.admit("a", kOne, tomorrow + 1, limits).notify);
}

TEST_CASE("outbound limits: the counts written out and read back hold the same limits") {
  OutboundCounter counter;
  OutboundLimitValues limits{2, 0, 2};
  CHECK(counter.admit("a", {"x@r.test"}, kStart, limits).allowed);
  CHECK(counter.admit("a", {"y@r.test"}, kStart + 1, limits).allowed);
  CHECK_FALSE(counter.admit("a", {"x@r.test"}, kStart + 2, limits).allowed);
  auto rows = counter.take_changes();
  CHECK(rows.buckets.size() == 1);
  CHECK(rows.buckets[0].messages == 2);
  CHECK(rows.recipients.size() == 2);
  CHECK(rows.notices.size() == 1);
  CHECK_FALSE(counter.has_changes());

  OutboundCounter restarted;
  restarted.load(rows);
  auto refused = restarted.admit("a", {"x@r.test"}, kStart + 3, limits);
  CHECK_FALSE(refused.allowed);
  CHECK_FALSE(refused.notify);  // already told today
  OutboundLimitValues more_messages{10, 0, 2};
  CHECK_FALSE(restarted.admit("a", {"z@r.test"}, kStart + 4, more_messages).allowed);
  CHECK(restarted.admit("a", {"y@r.test"}, kStart + 4, more_messages).allowed);
}

TEST_CASE(
    "outbound limits: rows that could not be written are changes again, at their new values") {
  OutboundCounter counter;
  OutboundLimitValues limits{10, 0, 10};
  CHECK(counter.admit("a", {"x@r.test"}, kStart, limits).allowed);
  auto failed = counter.take_changes();
  CHECK_FALSE(counter.has_changes());
  CHECK(counter.admit("a", {"x@r.test"}, kStart + 1, limits).allowed);  // while the save ran
  counter.not_saved(failed);
  auto retry = counter.take_changes();
  REQUIRE(retry.buckets.size() == 1);
  CHECK(retry.buckets[0].messages == 2);  // the current count, not the failed row's 1
  CHECK(retry.recipients.size() == 1);
  CHECK_FALSE(counter.has_changes());
}

TEST_CASE("outbound limits: who a message is counted for") {
  using postroom::service::FilterEnvelope;
  using postroom::service::outbound_subject;
  FilterEnvelope e;
  e.remote_recipients = {"bob@remote.test"};
  e.authenticated = true;
  e.auth_user = "Alice@Example.test";
  e.trusted = true;
  CHECK(outbound_subject(e) == "alice@example.test");  // a login beats the network
  e.authenticated = false;
  CHECK(outbound_subject(e) == "trusted_networks");
  e.trusted = false;
  CHECK(outbound_subject(e).empty());  // from the internet: an alias forwarding, not sending
  e.trusted = true;
  e.remote_recipients.clear();
  CHECK(outbound_subject(e).empty());  // stays here: not outbound
}

TEST_CASE("outbound limits: a device password's own rate is counted per device, local mail too") {
  using postroom::service::device_subject;
  using postroom::service::FilterEnvelope;
  FilterEnvelope e;
  e.authenticated = true;
  e.auth_user = "alice@example.test";
  CHECK(device_subject(e).empty());  // the main password: the account's limits only
  e.device_id = 7;
  CHECK(device_subject(e).empty());  // a device without a rate of its own
  e.device_rate_per_hour = 2;
  CHECK(device_subject(e) == "device:7");  // no remote recipient needed
  e.authenticated = false;
  CHECK(device_subject(e).empty());
  // The rate is admitted through the same counter as the account's limits.
  OutboundCounter counter;
  OutboundLimitValues rate{2, 0, 0};
  CHECK(counter.admit("device:7", {}, kStart, rate).allowed);
  CHECK(counter.admit("device:7", {}, kStart + 1, rate).allowed);
  auto refused = counter.admit("device:7", {}, kStart + 2, rate);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.limit == "messages per hour");
  CHECK(counter.admit("device:8", {}, kStart + 2, rate).allowed);  // another device
}
