// IP address parsing and prefix matching for SPF's ip4/ip6/a/mx mechanisms.
#include "postroom/mailauth/ip_address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace postroom::mailauth {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes.data(), mapped, 12) == 0) {
    std::memmove(ip.bytes.data(), ip.bytes.data() + 12, 4);
    std::memset(ip.bytes.data() + 4, 0, 12);
    return ip;
  }
  ip.v6 = true;
  return ip;
}

bool IpAddress::in_network(const IpAddress& network, int prefix) const {
  if (v6 != network.v6) return false;
  int bits = v6 ? 128 : 32;
  if (prefix < 0 || prefix > bits) return false;
  int whole = prefix / 8;
  if (std::memcmp(bytes.data(), network.bytes.data(), static_cast<std::size_t>(whole)) != 0)
    return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (bytes[static_cast<std::size_t>(whole)] & mask) ==
         (network.bytes[static_cast<std::size_t>(whole)] & mask);
}

std::string IpAddress::str() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buffer, sizeof buffer);
  return buffer;
}

std::string IpAddress::spf_dotted() const {
  if (!v6) return str();
  // Upper-case nibbles, as in RFC 7208 §7.4's examples.
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (std::uint8_t b : bytes) {
    if (!out.empty()) out += '.';
    out += hex[b >> 4];
    out += '.';
    out += hex[b & 15];
  }
  return out;
}

std::string IpAddress::reverse_name() const {
  std::string out;
  if (!v6) {
    for (int i = 3; i >= 0; --i) out += std::to_string(bytes[static_cast<std::size_t>(i)]) + ".";
    return out + "in-addr.arpa";
  }
  static const char hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    std::uint8_t b = bytes[static_cast<std::size_t>(i)];
    out += hex[b & 15];
    out += '.';
    out += hex[b >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

}  // namespace postroom::mailauth
