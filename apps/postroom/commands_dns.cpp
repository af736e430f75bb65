// dns-records and check-dns: the records an office's domains need, printed or checked.
#include <iostream>

#include "cli.hpp"
#include "postroom/dnsadmin/checks.hpp"
#include "postroom/dnsadmin/dkim_key.hpp"
#include "postroom/dnsadmin/lookup.hpp"
#include "postroom/dnsadmin/records.hpp"

namespace postroom::cli {
namespace {

using dnsadmin::Lookup;
using dnsadmin::OfficeFacts;

std::optional<std::uint16_t> first_port(const std::vector<Endpoint>& endpoints) {
  if (endpoints.empty()) return std::nullopt;
  return endpoints.front().port;
}

// The domains named on the command line (one, which must be ours) or all of them.
Result<std::vector<std::string>> chosen_domains(const Context& ctx) {
  if (ctx.args.words.empty()) return ctx.config.domains;
  std::string domain = to_lower_ascii(ctx.args.words.front());
  if (!ctx.config.is_local_domain(domain))
    return fail("'" + domain + "' is not one of the domains in the config");
  return std::vector<std::string>{domain};
}

// public_addresses, else what the hostname resolves to (with a note on stderr).
std::vector<std::string> box_addresses(const config::Config& config, Lookup& dns) {
  if (!config.public_addresses.empty()) return config.public_addresses;
  std::vector<std::string> out;
  for (auto answer : {dns.a(config.hostname), dns.aaaa(config.hostname)})
    out.insert(out.end(), answer.values.begin(), answer.values.end());
  std::cerr << "note: public_addresses is not set; using the addresses of " << config.hostname
            << (out.empty() ? " (none found)" : "") << "\n";
  return out;
}

Result<OfficeFacts> facts_for(const config::Config& config, const std::string& domain,
                              const std::vector<std::string>& addresses) {
  OfficeFacts f;
  f.hostname = config.hostname;
  f.domain = domain;
  f.addresses = addresses;
  f.smarthost = config.relay.mode == config::RelayMode::smarthost;
  if (config.relay.smarthost) f.smarthost_host = config.relay.smarthost->host;
  f.submission = first_port(config.listen.submission);
  f.submissions = first_port(config.listen.submissions);
  f.pop3 = first_port(config.listen.pop3);
  f.pop3s = first_port(config.listen.pop3s);
  f.mta_sts_mode = config.http.mta_sts_mode;
  f.mta_sts_max_age = config.http.mta_sts_max_age.count();
  auto keys = dnsadmin::list_dkim_keys(config.data_dir / "dkim", domain);
  if (!keys) return std::unexpected(keys.error());
  f.dkim = std::move(*keys);
  return f;
}

Result<std::unique_ptr<Lookup>> make_lookup(const config::Config& config) {
  return Lookup::make(config.relay.dns_servers);
}

}  // namespace

int dns_records_command(Context& ctx) {
  if (ctx.args.words.size() > 1) return usage_error("dns-records takes at most one DOMAIN");
  auto domains = chosen_domains(ctx);
  if (!domains) return failure(domains.error().message);
  auto dns = make_lookup(ctx.config);
  if (!dns) return failure(dns.error().message);
  auto addresses = box_addresses(ctx.config, **dns);
  bool first = true;
  for (const auto& domain : *domains) {
    auto facts = facts_for(ctx.config, domain, addresses);
    if (!facts) return failure(facts.error().message);
    if (!first) std::cout << "\n";
    first = false;
    std::cout << "; DNS records for " << domain << " (postroom on " << ctx.config.hostname << ")\n";
    if (facts->dkim.empty())
      std::cout << "; no DKIM key for " << domain << " yet: create one with postroom dkim generate "
                << domain << "\n";
    for (const auto& record : dnsadmin::office_records(*facts)) {
      if (!record.note.empty()) std::cout << "; " << record.note << "\n";
      std::cout << dnsadmin::zone_line(record) << "\n";
      if (record.kind == dnsadmin::Kind::mta_sts_host) {
        std::cout << "; the policy (https://mta-sts." << domain << "/.well-known/mta-sts.txt):\n";
        std::string policy = dnsadmin::mta_sts_policy(*facts);
        for (std::size_t at = 0; at < policy.size();) {
          auto end = policy.find("\r\n", at);
          std::cout << ";   " << policy.substr(at, end - at) << "\n";
          at = end + 2;
        }
      }
    }
  }
  return kOk;
}

int check_dns_command(Context& ctx) {
  if (ctx.args.words.size() > 1) return usage_error("check-dns takes at most one DOMAIN");
  auto domains = chosen_domains(ctx);
  if (!domains) return failure(domains.error().message);
  auto dns = make_lookup(ctx.config);
  if (!dns) return failure(dns.error().message);
  auto addresses = box_addresses(ctx.config, **dns);
  bool all_ok = true;
  auto print = [&](const dnsadmin::CheckLine& line) {
    if (line.status != dnsadmin::CheckLine::Status::ok) all_ok = false;
    std::cout << dnsadmin::format(line) << "\n";
  };
  for (const auto& domain : *domains) {
    auto facts = facts_for(ctx.config, domain, addresses);
    if (!facts) return failure(facts.error().message);
    if (facts->dkim.empty()) {
      print({dnsadmin::CheckLine::Status::missing, "DKIM", domain,
             "no key in " + (ctx.config.data_dir / "dkim" / domain).string() +
                 " (postroom dkim generate " + domain + ")"});
    }
    for (const auto& record : dnsadmin::office_records(*facts))
      print(dnsadmin::check_record(**dns, *facts, record));
  }
  for (const auto& address : addresses) {
    if (address.find(':') != std::string::npos) continue;  // the lists are IPv4
    for (const auto& zone : dnsadmin::blocklist_zones())
      print(dnsadmin::check_blocklist(**dns, address, zone));
  }
  if (addresses.empty()) {
    print({dnsadmin::CheckLine::Status::unknown, "public address", ctx.config.hostname,
           "unknown: set public_addresses in the config"});
  }
  return all_ok ? kOk : kFailed;
}

}  // namespace postroom::cli
