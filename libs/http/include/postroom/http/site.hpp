// What postroom serves over HTTP, as pure functions: a request and the facts in, a response out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/endpoint.hpp"
#include "postroom/base/error.hpp"
#include "postroom/config/config.hpp"
#include "postroom/http/message.hpp"

namespace postroom::http {

// One mail listener as a client should be told about it.
struct Offer {
  enum class Protocol { pop3, submission } protocol = Protocol::pop3;
  enum class Security { implicit_tls, starttls, none } security = Security::implicit_tls;
  std::uint16_t port = 0;
};

// The office as the client configurations describe it: built from the config and the
// listeners actually bound.
struct Site {
  std::string hostname;              // the server every client is pointed at
  std::vector<std::string> domains;  // lower-case; only these are answered
  std::vector<Offer> offers;         // best first: implicit TLS, then STARTTLS, then none
  std::string mta_sts_policy;        // the policy file; empty when mode is none
};

// Builds the Site from the config and the listeners bound, each named as in `listen`
// ("pop3", "submissions", ...); the admin command passes the configured endpoints.
Site make_site(const config::Config& config,
               const std::vector<std::pair<std::string, Endpoint>>& bound);
// The configured listeners, named as make_site wants them (for a Site without a daemon).
std::vector<std::pair<std::string, Endpoint>> configured_listeners(const config::Config& config);

// Offers ordered as clients should prefer them (RFC 8314 §5.1: implicit TLS first).
std::vector<Offer> ordered(std::vector<Offer> offers);

// Thunderbird's autoconfig file (config-v1.1.xml) for `domain`.
std::string thunderbird_config(const Site& site, const std::string& domain);
// Outlook's POX Autodiscover answer for `address` (a full address of one of the domains).
std::string autodiscover_response(const Site& site, const std::string& address);
// An unsigned Apple configuration profile (.mobileconfig) for `address`; no password in it.
// Fails when the office offers no POP3 or no submission listener.
Result<std::string> mobileconfig(const Site& site, const std::string& address);
// The EMailAddress of an Autodiscover POX request, or nullopt when there is none.
std::optional<std::string> autodiscover_address(std::string_view body);

// What the host must find out before it can answer (the steps that are not pure).
enum class Need {
  nothing,  // `response` is the answer
  health,   // a store heartbeat, then health_response()
  metrics,  // the counters and gauges, then metrics_response()
  login,    // check `user`/`password` (argon2id), then mobileconfig_response()
};

struct Plan {
  Need need = Need::nothing;
  Response response;           // when need == nothing
  std::string user, password;  // when need == login
};

// Facts about the connection the request came on.
struct Peer {
  bool tls = false;              // over HTTPS
  bool metrics_allowed = false;  // trusted_networks or http.metrics_allow
};

// Routes one request: every path postroom serves, anything else 404.
Plan plan(const Request& request, const Site& site, const Peer& peer);

struct HealthFacts {
  std::optional<std::string> store_error;  // none: the heartbeat committed
  std::vector<std::string> listeners;      // "smtp 0.0.0.0:25", ... as bound
  bool listeners_up = true;
  std::optional<std::int64_t> certificate_days;  // days left; none without TLS
  std::optional<std::uint64_t> disk_free_bytes;  // none: unknown
  std::uint64_t largest_message = 0;             // below this much room the box is unhealthy
};
Response health_response(const HealthFacts& facts);
Response metrics_response(std::string text);
// After a login attempt: the profile for `address` when `ok`, else 401 (or 503 when the
// check could not run).
enum class LoginOutcome { ok, bad_credentials, temp_failure };
Response mobileconfig_response(const Site& site, const std::string& address, LoginOutcome outcome);

}  // namespace postroom::http
