// SPF (RFC 7208): check_host() for the MAIL FROM and HELO identities, sans-I/O. The
// evaluation reads DNS through a DnsView; when an answer is missing it stops and the caller
// looks up what DnsCache::take_missing() names and runs it again (evaluation is
// deterministic, so a re-run retraces the same steps with more answers known).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "postroom/mailauth/dns.hpp"

namespace postroom::mailauth {

enum class SpfResult { none, neutral, pass, fail, softfail, temperror, permerror };

const char* spf_result_name(SpfResult result);

struct SpfRequest {
  std::string client_ip;  // numeric
  // The identity: "local@domain" for MAIL FROM; for HELO (or the null reverse-path, RFC
  // 7208 §2.4) "postmaster@" + the HELO name.
  std::string sender;
  std::string helo;                  // %{h}
  std::string receiver = "unknown";  // %{r}, explanations only
  std::int64_t now = 0;              // %{t}, explanations only
  // The explanation of a fail when the record names none (exp=).
  std::string default_explanation = "SPF fail";
};

struct SpfOutcome {
  SpfResult result = SpfResult::none;
  std::string domain;       // the domain whose policy was checked
  std::string explanation;  // for fail: the exp= text or the default
  std::string reason;       // what decided it: the matching mechanism or the error
};

// The identity for the null reverse-path / HELO check: "postmaster@" + helo.
SpfRequest spf_helo_request(std::string client_ip, std::string helo);
// The MAIL FROM identity.
SpfRequest spf_mail_from_request(std::string client_ip, std::string sender, std::string helo);

// nullopt: a DNS answer it needs is not in `dns` yet.
std::optional<SpfOutcome> spf_check(const SpfRequest& request, DnsView& dns);

}  // namespace postroom::mailauth
