// Parsing of listener endpoints and CIDR networks with inet_pton.
#include "postroom/base/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

#include "postroom/base/quote.hpp"

namespace postroom {

std::string Endpoint::str() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  Endpoint endpoint;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail(quoted_value(text) + " is not [IPv6]:port");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    endpoint.ipv6 = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(quoted_value(text) + " needs :port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned char buffer[16];
  std::string host_string(host);
  int family = endpoint.ipv6 ? AF_INET6 : AF_INET;
  if (inet_pton(family, host_string.c_str(), buffer) != 1)
    return fail(quoted_value(host_string) + " is not a numeric " +
                (endpoint.ipv6 ? "IPv6" : "IPv4") + " address");
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535)
    return fail(quoted_value(port_text) + " is not a port number (0-65535)");
  endpoint.host = host_string;
  endpoint.port = static_cast<std::uint16_t>(port);
  return endpoint;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  Cidr cidr;
  cidr.text_ = std::string(text);
  auto slash = text.find('/');
  std::string host(text.substr(0, slash));
  cidr.ipv6_ = host.find(':') != std::string::npos;
  int max_prefix = cidr.ipv6_ ? 128 : 32;
  if (inet_pton(cidr.ipv6_ ? AF_INET6 : AF_INET, host.c_str(), cidr.bytes_.data()) != 1)
    return fail(quoted_value(text) + " is not a network (like 192.168.1.0/24)");
  cidr.prefix_ = max_prefix;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cidr.prefix_);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() ||
        cidr.prefix_ < 0 || cidr.prefix_ > max_prefix)
      return fail(quoted_value(text) + " has a bad prefix length");
  }
  return cidr;
}

namespace {

bool prefix_matches(const std::uint8_t* network, const std::uint8_t* address, int prefix) {
  int full = prefix / 8;
  if (std::memcmp(network, address, full) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (network[full] & mask) == (address[full] & mask);
}

}  // namespace

bool Cidr::contains(const sockaddr* address) const {
  if (address->sa_family == AF_INET) {
    if (ipv6_) return false;
    auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    return prefix_matches(bytes_.data(), reinterpret_cast<const std::uint8_t*>(&v4->sin_addr),
                          prefix_);
  }
  if (address->sa_family != AF_INET6) return false;
  auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
  auto* raw = reinterpret_cast<const std::uint8_t*>(&v6->sin6_addr);
  if (ipv6_) return prefix_matches(bytes_.data(), raw, prefix_);
  // An IPv4 network matches an IPv4-mapped IPv6 peer on a dual-stack socket.
  if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return false;
  return prefix_matches(bytes_.data(), raw + 12, prefix_);
}

bool Cidr::ipv4_mapped() const {
  constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ipv6_ && prefix_ >= 96 && std::memcmp(bytes_.data(), kMapped, sizeof kMapped) == 0;
}

std::string format_ip(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (address->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  } else if (address->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

}  // namespace postroom
