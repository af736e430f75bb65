// Judges what DNS holds against what the office needs, one record at a time.
#include "postroom/dnsadmin/checks.hpp"

#include <algorithm>

#include "postroom/base/address.hpp"
#include "postroom/dnsadmin/spf.hpp"

namespace postroom::dnsadmin {
namespace {

using S = CheckLine::Status;

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

// A lookup that found nothing or failed, as a line; nullopt when there are answers.
std::optional<CheckLine> absent(const CheckLine& base, const Answer& answer,
                                const std::string& type) {
  CheckLine line = base;
  switch (answer.status) {
    case Answer::Status::ok:
      if (!answer.values.empty()) return std::nullopt;
      [[fallthrough]];
    case Answer::Status::nodata:
      line.status = S::missing;
      line.detail = "no " + type + " record";
      return line;
    case Answer::Status::nxdomain:
      line.status = S::missing;
      line.detail = "the name does not exist";
      return line;
    case Answer::Status::error:
      line.status = S::unknown;
      line.detail = "lookup failed: " + answer.error;
      return line;
  }
  return line;
}

std::vector<std::string> starting_with(const std::vector<std::string>& txt,
                                       std::string_view prefix) {
  std::vector<std::string> out;
  for (const auto& t : txt) {
    std::string lower = to_lower_ascii(t);
    if (lower.starts_with(to_lower_ascii(prefix))) out.push_back(t);
  }
  return out;
}

std::string tag(const std::vector<std::pair<std::string, std::string>>& tags,
                std::string_view name) {
  for (const auto& [k, v] : tags)
    if (k == name) return v;
  return {};
}

bool has_tag(const std::vector<std::pair<std::string, std::string>>& tags, std::string_view name) {
  return std::any_of(tags.begin(), tags.end(), [&](const auto& t) { return t.first == name; });
}

CheckLine check_txt_kind(Lookup& dns, const OfficeFacts& facts, const DnsRecord& e,
                         CheckLine line) {
  auto answer = dns.txt(e.name);
  if (auto missing = absent(line, answer, "TXT")) return *missing;
  switch (e.kind) {
    case Kind::spf: {
      auto records = spf_records(answer.values);
      if (records.empty()) return {S::missing, line.label, line.name, "no v=spf1 record"};
      if (records.size() > 1)
        return {S::wrong, line.label, line.name,
                "more than one v=spf1 record (RFC 7208 §4.5: a permanent error)"};
      std::string lower = to_lower_ascii(records.front());
      if (lower.find(" +all") != std::string::npos || lower.ends_with(" all") ||
          lower.find(" all ") != std::string::npos)
        return {S::wrong, line.label, line.name, "\"+all\" lets anyone send as " + facts.domain};
      for (const auto& ip : facts.addresses) {
        auto verdict = evaluate_spf(dns, facts.domain, ip);
        if (verdict.result != SpfVerdict::Result::pass)
          return {S::wrong, line.label, line.name,
                  std::string("gives ") + to_string(verdict.result) + " for this box's address " +
                      ip + " (" + verdict.detail + "): " + records.front()};
      }
      line.detail = records.front();
      if (facts.smarthost && lower.find("include:") == std::string::npos &&
          lower.find("redirect=") == std::string::npos)
        line.detail += " (smarthost mode: remember your provider's SPF include)";
      return line;
    }
    case Kind::dkim: {
      std::string expected_key = tag(parse_tags(e.value), "p");
      std::vector<std::pair<std::string, std::string>> tags;
      for (const auto& t : answer.values) {
        auto parsed = parse_tags(t);
        if (has_tag(parsed, "p")) tags = parsed;
      }
      if (tags.empty()) return {S::missing, line.label, line.name, "no DKIM key record (p=)"};
      std::string v = tag(tags, "v");
      if (has_tag(tags, "v") && v != "DKIM1")
        return {S::wrong, line.label, line.name, "v=" + v + " (must be DKIM1)"};
      std::string k = has_tag(tags, "k") ? to_lower_ascii(tag(tags, "k")) : "rsa";
      std::string expected_k = tag(parse_tags(e.value), "k");
      if (k != expected_k)
        return {S::wrong, line.label, line.name, "k=" + k + " but the key is " + expected_k};
      std::string p = tag(tags, "p");
      if (p.empty()) return {S::wrong, line.label, line.name, "p= is empty (the key is revoked)"};
      if (p != expected_key) {
        std::string file;
        for (const auto& key : facts.dkim)
          if (tag(parse_tags(e.value), "p") == key.public_key) file = " " + key.file.string();
        return {S::wrong, line.label, line.name,
                "the published key does not match the private key" + file};
      }
      line.detail = "k=" + k + ", matches the private key";
      return line;
    }
    case Kind::dmarc: {
      auto records = starting_with(answer.values, "v=DMARC1");
      if (records.empty()) return {S::missing, line.label, line.name, "no v=DMARC1 record"};
      if (records.size() > 1)
        return {S::wrong, line.label, line.name, "more than one v=DMARC1 record"};
      auto tags = parse_tags(records.front());
      std::string p = to_lower_ascii(tag(tags, "p"));
      if (p != "none" && p != "quarantine" && p != "reject")
        return {S::wrong, line.label, line.name, "p= must be none, quarantine or reject"};
      if (!has_tag(tags, "rua"))
        return {S::wrong, line.label, line.name, "no rua=: nobody gets the aggregate reports"};
      line.detail = records.front();
      return line;
    }
    case Kind::mta_sts: {
      auto records = starting_with(answer.values, "v=STSv1");
      if (records.empty()) return {S::missing, line.label, line.name, "no v=STSv1 record"};
      auto id = tag(parse_tags(records.front()), "id");
      bool good = !id.empty() && id.size() <= 32 && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c));
      });
      if (!good) return {S::wrong, line.label, line.name, "id= must be 1 to 32 letters and digits"};
      line.detail = records.front();
      return line;
    }
    case Kind::tls_rpt: {
      auto records = starting_with(answer.values, "v=TLSRPTv1");
      if (records.empty()) return {S::missing, line.label, line.name, "no v=TLSRPTv1 record"};
      if (tag(parse_tags(records.front()), "rua").empty())
        return {S::wrong, line.label, line.name, "no rua= for the reports"};
      line.detail = records.front();
      return line;
    }
    default:
      return line;
  }
}

}  // namespace

CheckLine check_record(Lookup& dns, const OfficeFacts& facts, const DnsRecord& e) {
  CheckLine line{S::ok, e.label, e.name, ""};
  switch (e.kind) {
    case Kind::mx: {
      auto answer = dns.mx(e.name);
      if (auto missing = absent(line, answer, "MX")) return *missing;
      for (const auto& mx : answer.values) {
        if (mx.substr(mx.find(' ') + 1) == facts.hostname) {
          line.detail = mx;
          return line;
        }
      }
      return {S::wrong, e.label, e.name,
              "points to " + join(answer.values) + ", not " + facts.hostname};
    }
    case Kind::host_address: {
      auto answer = e.type == "AAAA" ? dns.aaaa(e.name) : dns.a(e.name);
      if (auto missing = absent(line, answer, e.type)) return *missing;
      if (std::find(answer.values.begin(), answer.values.end(), e.value) != answer.values.end()) {
        line.detail = e.value;
        return line;
      }
      return {S::wrong, e.label, e.name,
              "has " + join(answer.values) + ", not this box's " + e.value};
    }
    case Kind::mta_sts_host: {
      // A CNAME to the box or addresses of its own: either way it must reach the box.
      auto answer = dns.a(e.name);
      auto v6 = dns.aaaa(e.name);
      answer.values.insert(answer.values.end(), v6.values.begin(), v6.values.end());
      if (v6.status == Answer::Status::ok) answer.status = Answer::Status::ok;
      if (auto missing = absent(line, answer, "A/AAAA or CNAME")) return *missing;
      for (const auto& a : facts.addresses) {
        if (std::find(answer.values.begin(), answer.values.end(), a) != answer.values.end()) {
          line.detail = "reaches " + a;
          return line;
        }
      }
      if (facts.addresses.empty()) {
        line.detail = join(answer.values);
        return line;
      }
      return {S::wrong, e.label, e.name, "has " + join(answer.values) + ", not this box"};
    }
    case Kind::srv: {
      auto answer = dns.srv(e.name);
      if (auto missing = absent(line, answer, "SRV")) return *missing;
      auto want = e.value.substr(e.value.find(' ') + 1);  // weight port target
      auto want_tail = want.substr(want.find(' ') + 1);   // port target
      // RFC 6186 §4: the target "." says "not offered", whatever the port.
      bool not_offered = want_tail == "0 .";
      for (const auto& v : answer.values) {
        auto tail = v.substr(v.find(' ') + 1);
        tail = tail.substr(tail.find(' ') + 1);
        bool root = tail.ends_with(" ") || tail.ends_with(" .");
        if (not_offered ? root : tail == want_tail) {
          line.detail = v;
          return line;
        }
      }
      return {S::wrong, e.label, e.name,
              "has " + join(answer.values) + ", expected port and target " + want_tail};
    }
    case Kind::ptr: {
      auto answer = dns.ptr(e.name);
      if (auto missing = absent(line, answer, "PTR")) return *missing;
      if (std::find(answer.values.begin(), answer.values.end(), facts.hostname) !=
          answer.values.end()) {
        line.detail = facts.hostname;
        return line;
      }
      return {S::wrong, e.label, e.name,
              "names " + join(answer.values) + ", not " + facts.hostname +
                  " (receivers compare it with the HELO name)"};
    }
    default:
      return check_txt_kind(dns, facts, e, line);
  }
}

const std::vector<std::string>& blocklist_zones() {
  static const std::vector<std::string> zones = {"zen.spamhaus.org", "bl.spamcop.net",
                                                 "b.barracudacentral.org", "psbl.surriel.com"};
  return zones;
}

CheckLine check_blocklist(Lookup& dns, const std::string& address, const std::string& zone) {
  CheckLine line{S::ok, "blocklist " + zone, address, "not listed"};
  std::string reversed = reverse_name(address);
  if (reversed.empty() || !reversed.ends_with(".in-addr.arpa")) {
    line.status = S::unknown;
    line.detail = "only IPv4 addresses are checked";
    return line;
  }
  std::string name = reversed.substr(0, reversed.size() - 13) + "." + zone;
  auto answer = dns.a(name);
  switch (answer.status) {
    case Answer::Status::nxdomain:
    case Answer::Status::nodata:
      return line;
    case Answer::Status::error:
      return {S::unknown, line.label, address, "lookup failed: " + answer.error};
    case Answer::Status::ok:
      break;
  }
  // Spamhaus answers 127.255.255.x when it refuses the query (public resolvers, no key).
  for (const auto& a : answer.values) {
    if (a.starts_with("127.255.255."))
      return {S::unknown, line.label, address,
              "the list refused the query (" + a + "): ask through your own resolver"};
  }
  return {S::wrong, line.label, address, "LISTED (" + join(answer.values) + ")"};
}

std::string format(const CheckLine& line) {
  std::string status = line.status == S::ok        ? "ok"
                       : line.status == S::missing ? "MISSING"
                       : line.status == S::wrong   ? "WRONG"
                                                   : "UNKNOWN";
  status.resize(8, ' ');
  return status + line.label + ": " + line.name + (line.detail.empty() ? "" : ": " + line.detail);
}

}  // namespace postroom::dnsadmin
