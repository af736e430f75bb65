// check-dns: each record the office needs, looked up and judged, and the box's addresses
// against the common DNS blocklists.
#pragma once

#include <string>
#include <vector>

#include "postroom/dnsadmin/lookup.hpp"
#include "postroom/dnsadmin/records.hpp"

namespace postroom::dnsadmin {

struct CheckLine {
  enum class Status { ok, missing, wrong, unknown } status = Status::ok;
  std::string label;   // the record's label ("SPF", "DKIM selector s1", "blocklist ...")
  std::string name;    // the name looked up
  std::string detail;  // what was found, or what is wrong
};

CheckLine check_record(Lookup& dns, const OfficeFacts& facts, const DnsRecord& expected);

// The blocklists check-dns asks (IPv4 only: most lists have no IPv6 zone worth asking).
const std::vector<std::string>& blocklist_zones();
CheckLine check_blocklist(Lookup& dns, const std::string& address, const std::string& zone);

// "ok", "MISSING", "WRONG", "UNKNOWN", padded, then label, name and detail.
std::string format(const CheckLine& line);

}  // namespace postroom::dnsadmin
