// A small SPF evaluator for check-dns: does the record authorize the box's addresses?
#include "postroom/dnsadmin/spf.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <sstream>

#include "postroom/base/address.hpp"

namespace postroom::dnsadmin {
namespace {

using R = SpfVerdict::Result;

bool in_network(const std::string& ip, const std::string& net, int prefix) {
  unsigned char a[16], b[16];
  int family = ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if ((net.find(':') != std::string::npos ? AF_INET6 : AF_INET) != family) return false;
  if (inet_pton(family, ip.c_str(), a) != 1 || inet_pton(family, net.c_str(), b) != 1) return false;
  int bits = family == AF_INET ? 32 : 128;
  if (prefix < 0 || prefix > bits) prefix = bits;
  for (int i = 0; i < prefix; ++i) {
    int mask = 0x80 >> (i % 8);
    if ((a[i / 8] & mask) != (b[i / 8] & mask)) return false;
  }
  return true;
}

R qualifier_result(char q) {
  switch (q) {
    case '-':
      return R::fail;
    case '~':
      return R::softfail;
    case '?':
      return R::neutral;
    default:
      return R::pass;
  }
}

struct Evaluator {
  Lookup& dns;
  std::string ip;
  int lookups = 0;

  bool host_has_ip(const std::string& host, int prefix) {
    bool v6 = ip.find(':') != std::string::npos;
    auto answer = v6 ? dns.aaaa(host) : dns.a(host);
    for (const auto& a : answer.values)
      if (in_network(ip, a, prefix)) return true;
    return false;
  }

  SpfVerdict run(const std::string& domain, int depth) {
    if (depth > 10) return {R::error, "include or redirect nested too deep"};
    auto txt = dns.txt(domain);
    if (txt.status == Answer::Status::error) return {R::error, "DNS: " + txt.error};
    auto records = spf_records(txt.values);
    if (records.empty()) return {R::none, "no SPF record at " + domain};
    if (records.size() > 1) return {R::error, "more than one SPF record at " + domain};
    std::istringstream terms(records.front());
    std::string term, redirect;
    terms >> term;  // v=spf1
    while (terms >> term) {
      std::string lower = to_lower_ascii(term);
      if (lower.starts_with("redirect=")) {
        redirect = term.substr(9);
        continue;
      }
      if (lower.find('=') != std::string::npos) continue;  // other modifiers
      char q = '+';
      if (std::strchr("+-~?", lower[0])) {
        q = lower[0];
        lower.erase(0, 1);
      }
      std::string mech = lower, arg;
      int prefix = -1;
      if (auto colon = lower.find(':'); colon != std::string::npos) {
        mech = lower.substr(0, colon);
        arg = lower.substr(colon + 1);
      }
      auto split_prefix = [&](std::string& text) {
        if (auto slash = text.find('/'); slash != std::string::npos) {
          prefix = std::atoi(text.c_str() + slash + 1);
          text.erase(slash);
        }
      };
      if (mech.find('/') != std::string::npos) split_prefix(mech);
      bool match = false;
      if (mech == "all") {
        match = true;
      } else if (mech == "ip4" || mech == "ip6") {
        split_prefix(arg);
        match = in_network(ip, arg, prefix);
      } else if (mech == "a") {
        split_prefix(arg);
        if (++lookups > 10) return {R::error, "more than 10 DNS lookups"};
        match = host_has_ip(arg.empty() ? domain : arg, prefix);
      } else if (mech == "mx") {
        split_prefix(arg);
        if (++lookups > 10) return {R::error, "more than 10 DNS lookups"};
        for (const auto& mx : dns.mx(arg.empty() ? domain : arg).values) {
          auto space = mx.find(' ');
          if (host_has_ip(mx.substr(space + 1), prefix)) match = true;
        }
      } else if (mech == "include") {
        if (++lookups > 10) return {R::error, "more than 10 DNS lookups"};
        auto inner = run(arg, depth + 1);
        if (inner.result == R::error || inner.result == R::none)
          return {R::error, "include:" + arg + ": " + inner.detail};
        match = inner.result == R::pass;
      } else if (mech == "exists" || mech == "ptr") {
        ++lookups;
      } else {
        return {R::error, "unknown mechanism \"" + term + "\""};
      }
      if (match) return {qualifier_result(q), term};
    }
    if (!redirect.empty()) {
      if (++lookups > 10) return {R::error, "more than 10 DNS lookups"};
      auto inner = run(to_lower_ascii(redirect), depth + 1);
      if (inner.result == R::none) return {R::error, "redirect=" + redirect + ": no SPF record"};
      return inner;
    }
    return {R::neutral, "no mechanism matched"};
  }
};

}  // namespace

std::vector<std::string> spf_records(const std::vector<std::string>& txt) {
  std::vector<std::string> out;
  for (const auto& t : txt) {
    std::string lower = to_lower_ascii(t);
    if (lower == "v=spf1" || lower.starts_with("v=spf1 ")) out.push_back(t);
  }
  return out;
}

SpfVerdict evaluate_spf(Lookup& dns, const std::string& domain, const std::string& ip) {
  Evaluator e{dns, ip};
  return e.run(domain, 0);
}

const char* to_string(SpfVerdict::Result result) {
  switch (result) {
    case R::pass:
      return "pass";
    case R::fail:
      return "fail";
    case R::softfail:
      return "softfail";
    case R::neutral:
      return "neutral";
    case R::none:
      return "none";
    case R::error:
      return "permerror";
  }
  return "?";
}

}  // namespace postroom::dnsadmin
