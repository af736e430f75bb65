// Blocking DNS lookups for the admin command (it may wait; the daemon never does), through
// c-ares, so relay.dns_servers with a port works as in the daemon.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "postroom/base/endpoint.hpp"
#include "postroom/base/error.hpp"

namespace postroom::dnsadmin {

struct Answer {
  enum class Status { ok, nxdomain, nodata, error } status = Status::error;
  std::string error;                // Status::error: what went wrong
  std::vector<std::string> values;  // see Lookup
  bool found() const { return status == Status::ok && !values.empty(); }
};

class Lookup {
 public:
  // `servers` empty: the system resolver (resolv.conf).
  static Result<std::unique_ptr<Lookup>> make(const std::vector<Endpoint>& servers);
  virtual ~Lookup() = default;

  // Values: addresses ("192.0.2.1", "2001:db8::1"); TXT records with their strings joined
  // (RFC 7208 §3.3); MX as "PREFERENCE HOST"; SRV as "PRIORITY WEIGHT PORT TARGET"; PTR
  // host names. Host names are lower-case, without the trailing dot.
  virtual Answer a(const std::string& name) = 0;
  virtual Answer aaaa(const std::string& name) = 0;
  virtual Answer txt(const std::string& name) = 0;
  virtual Answer mx(const std::string& name) = 0;
  virtual Answer srv(const std::string& name) = 0;
  virtual Answer ptr(const std::string& name) = 0;
};

}  // namespace postroom::dnsadmin
