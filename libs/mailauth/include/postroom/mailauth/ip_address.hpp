// An IPv4 or IPv6 address as SPF and the reverse-DNS names use it: parsed, compared by
// prefix, written back and turned into its in-addr.arpa / ip6.arpa name.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postroom::mailauth {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first four

  // Numeric form only. An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address:
  // SPF checks a client by the address family it really uses (RFC 7208 §5).
  static std::optional<IpAddress> parse(std::string_view text);
  // The first `prefix` bits equal those of `network` (same family).
  bool in_network(const IpAddress& network, int prefix) const;
  std::string str() const;
  // "4.3.2.1.in-addr.arpa" or the nibble form under ip6.arpa (RFC 3596 §2.5).
  std::string reverse_name() const;
  // The dotted form the SPF %{i} macro uses: plain for IPv4, dotted nibbles for IPv6.
  std::string spf_dotted() const;
  bool operator==(const IpAddress&) const = default;
};

}  // namespace postroom::mailauth
