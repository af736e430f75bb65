// Listener addresses ("0.0.0.0:25", "[::1]:110") and CIDR networks ("192.168.1.0/24").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

struct sockaddr;

namespace postroom {

struct Endpoint {
  std::string host;  // numeric IPv4 or IPv6 address, without brackets
  std::uint16_t port = 0;
  bool ipv6 = false;

  std::string str() const;  // "1.2.3.4:25" or "[::1]:25"
};

// Parses "a.b.c.d:port" or "[v6]:port"; port 0 means "any free port".
Result<Endpoint> parse_endpoint(std::string_view text);

// An IP network. IPv4 networks also match IPv4-mapped IPv6 peers (::ffff:a.b.c.d).
class Cidr {
 public:
  static Result<Cidr> parse(std::string_view text);

  bool contains(const sockaddr* address) const;
  std::string str() const { return text_; }
  int prefix() const { return prefix_; }
  bool ipv6() const { return ipv6_; }
  // An IPv6 network inside ::ffff:0:0/96, which holds IPv4 peers of dual-stack sockets.
  bool ipv4_mapped() const;

 private:
  std::array<std::uint8_t, 16> bytes_{};
  int prefix_ = 0;
  bool ipv6_ = false;
  std::string text_;
};

// The numeric host of a socket address, without port ("127.0.0.1", "::1").
std::string format_ip(const sockaddr* address);

}  // namespace postroom
