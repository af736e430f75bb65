// The SPF evaluator check-dns uses, against answers from a table.
#include "postroom/dnsadmin/spf.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace postroom::dnsadmin;

namespace {
class TableLookup final : public Lookup {
 public:
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> table;
  Answer get(const std::string& type, const std::string& name) {
    auto it = table.find({type, name});
    if (it == table.end()) return {Answer::Status::nxdomain, {}, {}};
    return {Answer::Status::ok, {}, it->second};
  }
  Answer a(const std::string& n) override { return get("A", n); }
  Answer aaaa(const std::string& n) override { return get("AAAA", n); }
  Answer txt(const std::string& n) override { return get("TXT", n); }
  Answer mx(const std::string& n) override { return get("MX", n); }
  Answer srv(const std::string& n) override { return get("SRV", n); }
  Answer ptr(const std::string& n) override { return get("PTR", n); }
};
using R = SpfVerdict::Result;
}  // namespace

TEST_CASE("spf: ip4, ip6 and prefixes") {
  TableLookup dns;
  dns.table[{"TXT", "example.test"}] = {"some other text",
                                        "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"};
  CHECK(evaluate_spf(dns, "example.test", "192.0.2.77").result == R::pass);
  CHECK(evaluate_spf(dns, "example.test", "2001:db8::5").result == R::pass);
  CHECK(evaluate_spf(dns, "example.test", "198.51.100.1").result == R::fail);
}

TEST_CASE("spf: a, mx, include and redirect") {
  TableLookup dns;
  dns.table[{"TXT", "example.test"}] = {"v=spf1 mx include:inc.test ~all"};
  dns.table[{"MX", "example.test"}] = {"10 mail.example.test"};
  dns.table[{"A", "mail.example.test"}] = {"192.0.2.10"};
  dns.table[{"TXT", "inc.test"}] = {"v=spf1 a:relay.inc.test -all"};
  dns.table[{"A", "relay.inc.test"}] = {"198.51.100.7"};
  dns.table[{"TXT", "red.test"}] = {"v=spf1 redirect=example.test"};
  CHECK(evaluate_spf(dns, "example.test", "192.0.2.10").result == R::pass);
  CHECK(evaluate_spf(dns, "example.test", "198.51.100.7").result == R::pass);
  CHECK(evaluate_spf(dns, "example.test", "203.0.113.1").result == R::softfail);
  CHECK(evaluate_spf(dns, "red.test", "192.0.2.10").result == R::pass);
}

TEST_CASE("spf: none, two records, and loops are reported") {
  TableLookup dns;
  CHECK(evaluate_spf(dns, "nothing.test", "192.0.2.1").result == R::none);
  dns.table[{"TXT", "two.test"}] = {"v=spf1 -all", "v=spf1 +all"};
  CHECK(evaluate_spf(dns, "two.test", "192.0.2.1").result == R::error);
  dns.table[{"TXT", "loop.test"}] = {"v=spf1 include:loop.test -all"};
  CHECK(evaluate_spf(dns, "loop.test", "192.0.2.1").result == R::error);
}
