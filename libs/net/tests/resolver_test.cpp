// The c-ares resolver against a canned DNS server on loopback UDP, on a private loop.
#include "postroom/net/resolver.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>

#include <map>
#include <optional>
#include <string>

#include "postroom/base/endpoint.hpp"
#include "postroom/net/handles.hpp"

using namespace postroom;
using namespace postroom::net;

namespace {

void put16(std::string& out, unsigned v) {
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

std::string encode_name(const std::string& name) {
  std::string out;
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out += static_cast<char>(dot - start);
    out += name.substr(start, dot - start);
    start = dot + 1;
  }
  return out + '\0';
}

struct Answer {
  int rcode = 0;  // 3: NXDOMAIN
  std::vector<std::string> rdata;
};

// Answers RFC 1035 queries from a table keyed by "name/type"; anything else is NXDOMAIN.
class CannedDns {
 public:
  CannedDns(uv_loop_t* loop, std::map<std::string, Answer> table) : table_(std::move(table)) {
    uv_udp_init(loop, &udp_);
    udp_.data = this;
    sockaddr_in address{};
    uv_ip4_addr("127.0.0.1", 0, &address);
    uv_udp_bind(&udp_, reinterpret_cast<sockaddr*>(&address), 0);
    sockaddr_in bound{};
    int length = sizeof bound;
    uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&bound), &length);
    port = ntohs(bound.sin_port);
    uv_udp_recv_start(
        &udp_,
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char storage[1500];
          *buf = uv_buf_init(storage, sizeof storage);
        },
        [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
          if (n <= 12 || !from) return;
          static_cast<CannedDns*>(h->data)->answer(std::string(buf->base, n), from);
        });
  }
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr); }

  std::uint16_t port = 0;
  int queries = 0;
  bool silent = false;  // receive and never answer

 private:
  void answer(const std::string& query, const sockaddr* from) {
    ++queries;
    if (silent) return;
    std::size_t at = 12;
    std::string name;
    while (at < query.size() && query[at] != 0) {
      std::size_t length = static_cast<unsigned char>(query[at]);
      if (!name.empty()) name += '.';
      name += query.substr(at + 1, length);
      at += length + 1;
    }
    std::size_t question_end = at + 5;
    unsigned type = (static_cast<unsigned char>(query[at + 1]) << 8) |
                    static_cast<unsigned char>(query[at + 2]);
    auto it = table_.find(name + "/" + std::to_string(type));
    Answer answer = it != table_.end() ? it->second : Answer{3, {}};
    reply_ = query.substr(0, 2);
    put16(reply_, 0x8180 | answer.rcode);  // QR, RD, RA
    put16(reply_, 1);
    put16(reply_, answer.rdata.size());
    put16(reply_, 0);
    put16(reply_, 0);
    reply_ += query.substr(12, question_end - 12);
    for (const auto& rdata : answer.rdata) {
      put16(reply_, 0xc00c);  // the name: a pointer to the question's
      put16(reply_, type);
      put16(reply_, 1);
      put16(reply_, 0);
      put16(reply_, 60);
      put16(reply_, rdata.size());
      reply_ += rdata;
    }
    uv_buf_t buf = uv_buf_init(reply_.data(), static_cast<unsigned>(reply_.size()));
    uv_udp_try_send(&udp_, &buf, 1, from);
  }

  uv_udp_t udp_{};
  std::map<std::string, Answer> table_;
  std::string reply_;
};

std::string mx(unsigned preference, const std::string& host) {
  std::string out;
  put16(out, preference);
  return out + encode_name(host);
}

std::string a(unsigned char last) {
  return std::string("\x7f\x00\x00", 3) + static_cast<char>(last);
}

std::unique_ptr<Resolver> resolver_for(uv_loop_t* loop, std::uint16_t port) {
  auto endpoint = parse_endpoint("127.0.0.1:" + std::to_string(port));
  REQUIRE(endpoint);
  auto resolver = Resolver::create(loop, {*endpoint});
  REQUIRE(resolver);
  return std::move(*resolver);
}

void run_to_completion(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(loop) == 0);
}

}  // namespace

TEST_CASE("resolver: MX records, null MX, NODATA and NXDOMAIN come back as answers") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  CannedDns dns(&loop, {{"mx.test/15", {0, {mx(20, "b.mx.test"), mx(10, "a.mx.test")}}},
                        {"null.test/15", {0, {mx(0, "")}}},
                        {"nodata.test/15", {0, {}}}});
  auto resolver = resolver_for(&loop, dns.port);
  std::map<std::string, MxResult> results;
  auto record = [&](const std::string& name) {
    return [&, name](MxResult r) {
      results[name] = std::move(r);
      if (results.size() == 4) {
        resolver.reset();
        dns.close();
      }
    };
  };
  for (const char* name : {"mx.test", "null.test", "nodata.test", "missing.test"})
    resolver->query_mx(name, record(name));
  CHECK(results.empty());  // never answered from inside the call
  run_to_completion(&loop);
  REQUIRE(results.size() == 4);
  const auto& found = results["mx.test"];
  CHECK(found.status == DnsStatus::ok);
  REQUIRE(found.records.size() == 2);
  CHECK(found.records[0].preference == 20);
  CHECK(found.records[0].host == "b.mx.test");
  CHECK(found.records[1].host == "a.mx.test");
  REQUIRE(results["null.test"].records.size() == 1);
  CHECK(results["null.test"].records[0].host == "");
  CHECK(results["nodata.test"].status == DnsStatus::no_data);
  CHECK(results["missing.test"].status == DnsStatus::not_found);
}

TEST_CASE("resolver: A lookups, numeric hosts and a server that refuses") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  CannedDns dns(&loop, {{"host.test/1", {0, {a(7), a(8)}}}, {"host.test/28", {0, {}}}});
  auto resolver = resolver_for(&loop, dns.port);
  std::optional<AddressResult> named, numeric;
  auto finish = [&] {
    if (named && numeric) {
      resolver.reset();
      dns.close();
    }
  };
  resolver->query_addresses("host.test", [&](AddressResult r) {
    named = std::move(r);
    finish();
  });
  resolver->query_addresses("127.0.0.3", [&](AddressResult r) {
    numeric = std::move(r);
    finish();
  });
  run_to_completion(&loop);
  REQUIRE(named);
  CHECK(named->status == DnsStatus::ok);
  REQUIRE(named->addresses.size() == 2);
  CHECK(format_ip(reinterpret_cast<const sockaddr*>(&named->addresses[0])) == "127.0.0.7");
  CHECK(format_ip(reinterpret_cast<const sockaddr*>(&named->addresses[1])) == "127.0.0.8");
  REQUIRE(numeric);
  CHECK(numeric->status == DnsStatus::ok);
  REQUIRE(numeric->addresses.size() == 1);
  CHECK(format_ip(reinterpret_cast<const sockaddr*>(&numeric->addresses[0])) == "127.0.0.3");
  CHECK(dns.queries == 2);  // A and AAAA of host.test only: the literal asked no server
}

TEST_CASE("resolver: address literals are answered without asking a DNS server") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  CannedDns dns(&loop, {});
  auto resolver = resolver_for(&loop, dns.port);
  std::vector<std::string> got;
  for (const char* host : {"192.0.2.25", "2001:db8::25"}) {
    resolver->query_addresses(host, [&](AddressResult r) {
      REQUIRE(r.status == DnsStatus::ok);
      REQUIRE(r.addresses.size() == 1);
      got.push_back(format_ip(reinterpret_cast<const sockaddr*>(&r.addresses[0])));
      if (got.size() == 2) {
        resolver.reset();
        dns.close();
      }
    });
  }
  CHECK(got.empty());  // answered later on the loop, like any lookup
  run_to_completion(&loop);
  CHECK(got == std::vector<std::string>{"192.0.2.25", "2001:db8::25"});
  CHECK(dns.queries == 0);
}

TEST_CASE("resolver: destroying it with a query pending calls nothing and leaves no handle") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // A server that never answers: the query would wait for c-ares' timeout.
  CannedDns dns(&loop, {});
  dns.silent = true;
  auto resolver = resolver_for(&loop, dns.port);
  bool called = false;
  resolver->query_mx("mx.test", [&](MxResult) { called = true; });
  CHECK(resolver->pending() == 1);
  auto later = std::make_unique<Timer>(&loop);
  later->start(200, [&] {
    CHECK(dns.queries >= 1);
    resolver.reset();
    dns.close();
    later.reset();
  });
  run_to_completion(&loop);
  CHECK_FALSE(called);
}

TEST_CASE("resolver: only-A, only-AAAA and PTR lookups") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string v6(16, '\0');
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[2] = 0x0d;
  v6[3] = static_cast<char>(0xb8);
  v6[15] = 5;
  CannedDns dns(&loop, {{"host.test/1", {0, {a(9)}}},
                        {"host.test/28", {0, {v6}}},
                        {"v4only.test/28", {0, {}}},
                        {"9.0.0.127.in-addr.arpa/12",
                         {0, {encode_name("host.test"), encode_name("alias.test")}}}});
  auto resolver = resolver_for(&loop, dns.port);
  std::optional<AddressResult> four, six, none;
  std::optional<NameResult> ptr, missing;
  auto finish = [&] {
    if (four && six && none && ptr && missing) {
      resolver.reset();
      dns.close();
    }
  };
  resolver->query_address_records("host.test", AF_INET, [&](AddressResult r) {
    four = std::move(r);
    finish();
  });
  resolver->query_address_records("host.test", AF_INET6, [&](AddressResult r) {
    six = std::move(r);
    finish();
  });
  resolver->query_address_records("v4only.test", AF_INET6, [&](AddressResult r) {
    none = std::move(r);
    finish();
  });
  resolver->query_ptr("9.0.0.127.in-addr.arpa", [&](NameResult r) {
    ptr = std::move(r);
    finish();
  });
  resolver->query_ptr("8.0.0.127.in-addr.arpa", [&](NameResult r) {
    missing = std::move(r);
    finish();
  });
  run_to_completion(&loop);
  REQUIRE(four);
  REQUIRE(four->addresses.size() == 1);
  CHECK(format_ip(reinterpret_cast<const sockaddr*>(&four->addresses[0])) == "127.0.0.9");
  REQUIRE(six);
  REQUIRE(six->addresses.size() == 1);
  CHECK(format_ip(reinterpret_cast<const sockaddr*>(&six->addresses[0])) == "2001:db8::5");
  REQUIRE(none);
  CHECK(none->status == DnsStatus::no_data);
  REQUIRE(ptr);
  CHECK(ptr->status == DnsStatus::ok);
  CHECK(ptr->names == std::vector<std::string>{"host.test", "alias.test"});
  REQUIRE(missing);
  CHECK(missing->status == DnsStatus::not_found);
}
