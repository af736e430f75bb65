// Builds the office's records and writes them as zone-file lines.
#include "postroom/dnsadmin/records.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <cstdio>

namespace postroom::dnsadmin {
namespace {

constexpr std::string_view kTtl = "3600";

bool is_ipv6(const std::string& a) {
  return a.find(':') != std::string::npos;
}

std::string sha256_hex(std::string_view text, std::size_t chars) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len && out.size() < chars; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out.substr(0, chars);
}

std::string spf_text(const OfficeFacts& facts) {
  std::string spf = "v=spf1";
  for (const auto& a : facts.addresses) spf += (is_ipv6(a) ? " ip6:" : " ip4:") + a;
  if (facts.addresses.empty()) spf += " mx";
  // ~all (softfail) while the office finds every place it sends from; -all later.
  return spf + " ~all";
}

}  // namespace

std::string mta_sts_policy(const OfficeFacts& facts) {
  // testing: receivers report failures (TLS-RPT) but still deliver; switch to enforce once
  // the reports are clean.
  // The same text the daemon serves (http::make_site), so the TXT id names what is served.
  return "version: STSv1\r\nmode: " + facts.mta_sts_mode + "\r\nmx: " + facts.hostname +
         "\r\nmax_age: " + std::to_string(facts.mta_sts_max_age) + "\r\n";
}

std::vector<DnsRecord> office_records(const OfficeFacts& f) {
  std::vector<DnsRecord> out;
  const std::string& d = f.domain;
  out.push_back({Kind::mx, "MX", d, "MX", "10 " + f.hostname, ""});
  for (const auto& a : f.addresses)
    out.push_back({Kind::host_address, "address of " + f.hostname, f.hostname,
                   is_ipv6(a) ? "AAAA" : "A", a, ""});
  std::string spf_note = f.addresses.empty()
                             ? "public_addresses is not set and " + f.hostname +
                                   " has no address: SPF falls back to the mx mechanism"
                             : "";
  if (f.smarthost) {
    spf_note = "smarthost mode: mail leaves through " + f.smarthost_host +
               "; add your provider's SPF (for example include:_spf.provider.example) before "
               "~all";
  }
  out.push_back({Kind::spf, "SPF", d, "TXT", spf_text(f), spf_note});
  for (const auto& key : f.dkim) {
    out.push_back({Kind::dkim, "DKIM selector " + key.selector, key.selector + "._domainkey." + d,
                   "TXT", "v=DKIM1; k=" + key.algorithm + "; p=" + key.public_key,
                   "from " + key.file.string()});
  }
  out.push_back({Kind::dmarc, "DMARC", "_dmarc." + d, "TXT",
                 "v=DMARC1; p=none; rua=mailto:postmaster@" + d,
                 "p=none to start: reports come to the postmaster; tighten to quarantine or "
                 "reject once they are clean"});
  std::string policy = mta_sts_policy(f);
  out.push_back({Kind::mta_sts, "MTA-STS", "_mta-sts." + d, "TXT",
                 "v=STSv1; id=" + sha256_hex(policy, 16), ""});
  out.push_back({Kind::mta_sts_host, "MTA-STS policy host", "mta-sts." + d, "CNAME", f.hostname,
                 "the policy host: https://mta-sts." + d +
                     "/.well-known/mta-sts.txt must serve the policy below (with a certificate "
                     "for mta-sts." +
                     d + ")"});
  out.push_back({Kind::tls_rpt, "TLS-RPT", "_smtp._tls." + d, "TXT",
                 "v=TLSRPTv1; rua=mailto:postmaster@" + d, ""});
  auto srv = [&](std::string_view service, const std::optional<std::uint16_t>& port,
                 std::uint16_t standard, int priority) {
    std::string name = "_" + std::string(service) + "._tcp." + d;
    // RFC 6186 §4: target "." says the service is not offered here.
    std::string value = port ? std::to_string(priority) + " 1 " +
                                   std::to_string(*port == 0 ? standard : *port) + " " + f.hostname
                             : "0 0 0 .";
    out.push_back({Kind::srv, "SRV " + std::string(service), name, "SRV", value, ""});
  };
  // RFC 8314 §5.1: implicit TLS preferred (lower priority number) over STARTTLS.
  srv("submissions", f.submissions, 465, 0);
  srv("submission", f.submission, 587, 10);
  srv("pop3s", f.pop3s, 995, 0);
  srv("pop3", f.pop3, 110, 10);
  for (const auto& a : f.addresses) {
    out.push_back({Kind::ptr, "PTR of " + a, reverse_name(a), "PTR", f.hostname,
                   "set by whoever owns " + a + " (your provider), not in your zone"});
  }
  return out;
}

std::vector<std::string> split_txt(std::string_view text) {
  std::vector<std::string> out;
  do {
    std::string_view piece = text.substr(0, 255);
    text.remove_prefix(piece.size());
    std::string quoted = "\"";
    for (char c : piece) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    out.push_back(quoted + "\"");
  } while (!text.empty());
  return out;
}

std::string zone_line(const DnsRecord& r) {
  std::string value = r.value;
  if (r.type == "TXT") {
    value.clear();
    for (const auto& s : split_txt(r.value)) value += (value.empty() ? "" : " ") + s;
  } else if (r.type == "MX" || r.type == "SRV" || r.type == "CNAME" || r.type == "PTR") {
    if (!value.empty() && value.back() != '.') value += '.';
  }
  return r.name + ". " + std::string(kTtl) + " IN " + r.type + " " + value;
}

std::string reverse_name(const std::string& address) {
  unsigned char bytes[16];
  if (inet_pton(AF_INET, address.c_str(), bytes) == 1) {
    char out[64];
    std::snprintf(out, sizeof out, "%u.%u.%u.%u.in-addr.arpa", bytes[3], bytes[2], bytes[1],
                  bytes[0]);
    return out;
  }
  if (inet_pton(AF_INET6, address.c_str(), bytes) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 15; i >= 0; --i) {
      out += kHex[bytes[i] & 15];
      out += '.';
      out += kHex[bytes[i] >> 4];
      out += '.';
    }
    return out + "ip6.arpa";
  }
  return {};
}

}  // namespace postroom::dnsadmin
