#include "postroom/base/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <doctest/doctest.h>

using namespace postroom;

TEST_CASE("endpoint: IPv4 and bracketed IPv6") {
  auto v4 = parse_endpoint("0.0.0.0:25");
  REQUIRE(v4);
  CHECK(v4->host == "0.0.0.0");
  CHECK(v4->port == 25);
  CHECK_FALSE(v4->ipv6);
  auto v6 = parse_endpoint("[::1]:1110");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->ipv6);
  CHECK(v6->str() == "[::1]:1110");
  for (const char* bad : {"", "localhost:25", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "::1:25",
                          "[::1]25", "[zz]:25", "1.2.3.4:2x"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_endpoint(bad));
  }
}

TEST_CASE("endpoint: CIDR matching, IPv4-mapped peers included") {
  auto net = Cidr::parse("192.168.1.0/24");
  REQUIRE(net);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "192.168.1.77", &in.sin_addr);
  CHECK(net->contains(reinterpret_cast<sockaddr*>(&in)));
  inet_pton(AF_INET, "192.168.2.1", &in.sin_addr);
  CHECK_FALSE(net->contains(reinterpret_cast<sockaddr*>(&in)));
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:192.168.1.5", &in6.sin6_addr);
  CHECK(net->contains(reinterpret_cast<sockaddr*>(&in6)));
  auto loop6 = Cidr::parse("::1/128");
  REQUIRE(loop6);
  inet_pton(AF_INET6, "::1", &in6.sin6_addr);
  CHECK(loop6->contains(reinterpret_cast<sockaddr*>(&in6)));
  CHECK(format_ip(reinterpret_cast<sockaddr*>(&in6)) == "::1");
  CHECK_FALSE(Cidr::parse("10.0.0.0/33"));
  CHECK_FALSE(Cidr::parse("10.0.0/8"));
  CHECK(Cidr::parse("10.1.2.3"));
}
