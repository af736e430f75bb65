// Every DNS record a postroom office needs, built from the config: what dns-records prints
// and check-dns looks up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/dnsadmin/dkim_key.hpp"

namespace postroom::dnsadmin {

// What the records are made from (the config, the addresses, the keys on disk).
struct OfficeFacts {
  std::string hostname;                // the MX and the PTR target
  std::string domain;                  // the mail domain the records are for
  std::vector<std::string> addresses;  // the box's public IPv4/IPv6 addresses
  bool smarthost = false;              // relay.mode smarthost
  std::string smarthost_host;
  // Client ports (RFC 6186, RFC 8314); nullopt: that listener is off.
  std::optional<std::uint16_t> submission, submissions, pop3, pop3s;
  std::vector<DkimKey> dkim;
  // The MTA-STS policy's mode and max_age (http.mta_sts; RFC 8461 §3.2).
  std::string mta_sts_mode = "testing";
  std::int64_t mta_sts_max_age = 604800;
};

enum class Kind { mx, host_address, spf, dkim, dmarc, mta_sts, mta_sts_host, tls_rpt, srv, ptr };

struct DnsRecord {
  Kind kind = Kind::mx;
  std::string label;  // for people: "MX", "SPF", "DKIM selector s1", "SRV submission", ...
  std::string name;   // fully qualified, lower-case, without the trailing dot
  std::string type;   // MX, A, AAAA, TXT, CNAME, SRV, PTR
  std::string value;  // MX "10 host"; TXT the whole text; SRV "0 1 587 host"; names bare
  std::string note;   // a line of advice printed before it, or empty
};

std::vector<DnsRecord> office_records(const OfficeFacts& facts);
// The MTA-STS policy file (RFC 8461 §3.2) for https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
std::string mta_sts_policy(const OfficeFacts& facts);
// One line of a zone file: "name. 3600 IN TYPE value" (TXT as quoted strings).
std::string zone_line(const DnsRecord& record);
// A TXT value as character-strings of at most 255 octets (RFC 1035 §3.3.14), quoted.
std::vector<std::string> split_txt(std::string_view text);
// "4.3.2.1.in-addr.arpa" for 1.2.3.4, the nibble form under ip6.arpa for IPv6; empty for
// something that is not an address.
std::string reverse_name(const std::string& address);

}  // namespace postroom::dnsadmin
