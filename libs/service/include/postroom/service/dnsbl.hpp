// DNS blocklist checks of a connecting client (config `dnsbl`): every zone at once through the
// inbound resolver, bounded by a timeout, answers classified by the zone's own codes.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/config/config.hpp"
#include "postroom/service/context.hpp"
#include "postroom/service/message_filter.hpp"

namespace postroom::service {

// "2.0.0.127.zen.spamhaus.org" for 127.0.0.2; IPv6 as 32 reversed nibbles (RFC 5782 §2.4);
// nullopt when `ip` is not a numeric address.
std::optional<std::string> dnsbl_query_name(std::string_view ip, std::string_view zone);

enum class DnsblCode {
  listed,   // counts
  refused,  // 127.255.255.0/24: the list refused or failed the query (Spamhaus), not a listing
  ignored,  // outside 127.0.0.0/8, or not one of the zone's codes
};
DnsblCode classify_dnsbl_answer(const config::DnsblZone& zone, std::string_view answer);

struct DnsblListing {
  std::string zone;
  std::string code;  // the A answer that counted
  std::string text;  // the zone's TXT record, if any
  unsigned weight = 0;
};

struct DnsblResult {
  unsigned score = 0;
  std::vector<DnsblListing> listings;
  std::vector<std::string> notes;  // "zone=refused", "zone=timeout", "zone=error" for the log
  bool listed(unsigned threshold) const { return score >= threshold; }
  // "dnsbl=listed(zen.spamhaus.org:127.0.0.2)" / "dnsbl=pass" for a log line.
  std::string log_words(unsigned threshold) const;
};

// One client's lookups. Owned through shared_ptr by whoever waits; dropping it cancels the
// callback. `done` runs on the loop, never inside start().
class DnsblCheck : public std::enable_shared_from_this<DnsblCheck> {
 public:
  static std::shared_ptr<DnsblCheck> start(Context& context, const std::string& ip,
                                           std::function<void(const DnsblResult&)> done);
  ~DnsblCheck();
  // `done` will not be called; the lookups under way end unanswered.
  void cancel();

 private:
  struct Private;
  explicit DnsblCheck(Context& context);
  void begin(const std::string& ip);
  void zone_answered();
  void finish();
  std::unique_ptr<Private> p_;
};

// At connect on port 25: calls `go` with nullopt to greet now, or with the reply that refuses
// the client instead ("554 5.7.1 ...\r\n"). Without zones, or for a trusted client, or in tag
// mode, `go` runs at once. The returned handle (may be null) must be kept until then.
std::shared_ptr<DnsblCheck> dnsbl_gate(Context& context, const std::string& peer_ip, bool mx,
                                       bool trusted,
                                       std::function<void(std::optional<std::string>)> go);

// Tag mode: a filter that adds "X-DNSBL:" to the messages of a listed port 25 client.
FilterFactory dnsbl_tag_filter_factory(Context& context);

}  // namespace postroom::service
