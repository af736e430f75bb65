// Routing: which of postroom's few documents a request asks for, and everything else 404.
#include <algorithm>

#include "postroom/base/address.hpp"
#include "postroom/http/site.hpp"

namespace postroom::http {
namespace {

bool is_local(const Site& site, std::string_view domain) {
  return std::find(site.domains.begin(), site.domains.end(), domain) != site.domains.end();
}

// The domain of a full address, lower-case; empty when it is not one.
std::string domain_of(std::string_view address) {
  std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return {};
  return to_lower_ascii(address.substr(at + 1));
}

Plan answer(Response response) {
  Plan p;
  p.response = std::move(response);
  return p;
}

Plan not_found() {
  return answer(text_response(404, "not found\n"));
}

Plan method_not_allowed(std::string allow) {
  Response r = text_response(405, "method not allowed\n");
  r.headers.emplace_back("Allow", std::move(allow));
  return answer(std::move(r));
}

Response xml_response(std::string body) {
  Response r;
  r.content_type = "application/xml; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response unauthorized() {
  Response r = text_response(401, "log in with your full address and password\n");
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"postroom\", charset=\"UTF-8\"");
  return r;
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

bool get_or_head(const Request& r) {
  return r.method == "GET" || r.method == "HEAD";
}

Plan thunderbird(const Request& request, const Site& site, std::string domain) {
  if (!get_or_head(request)) return method_not_allowed("GET, HEAD");
  if (domain.empty() || !is_local(site, domain)) return not_found();
  return answer(xml_response(thunderbird_config(site, domain)));
}

}  // namespace

Plan plan(const Request& request, const Site& site, const Peer& peer) {
  const std::string& path = request.path;
  const std::string& host = request.host;
  if (path == "/healthz") {
    if (!get_or_head(request)) return method_not_allowed("GET, HEAD");
    Plan p;
    p.need = Need::health;
    return p;
  }
  if (path == "/metrics") {
    if (!get_or_head(request)) return method_not_allowed("GET, HEAD");
    if (!peer.metrics_allowed)
      return answer(text_response(403,
                                  "metrics are served to trusted_networks and "
                                  "http.metrics_allow only\n"));
    Plan p;
    p.need = Need::metrics;
    return p;
  }
  if (path == "/mail/config-v1.1.xml") {
    // Thunderbird asks http(s)://autoconfig.DOMAIN/mail/config-v1.1.xml first.
    if (!host.starts_with("autoconfig.")) return not_found();
    return thunderbird(request, site, host.substr(std::string_view("autoconfig.").size()));
  }
  if (path == "/.well-known/autoconfig/mail/config-v1.1.xml") {
    // Then the domain itself; the address, when given, names the domain more surely.
    std::string domain = host.starts_with("autoconfig.")
                             ? host.substr(std::string_view("autoconfig.").size())
                             : host;
    if (auto address = request.query_param("emailaddress")) domain = domain_of(*address);
    return thunderbird(request, site, domain);
  }
  if (to_lower_ascii(path) == "/autodiscover/autodiscover.xml") {
    if (request.method != "POST") return method_not_allowed("POST");
    auto address = autodiscover_address(request.body);
    if (!address || domain_of(*address).empty())
      return answer(text_response(400, "no EMailAddress in the request\n"));
    if (!is_local(site, domain_of(*address))) return not_found();
    return answer(xml_response(autodiscover_response(site, *address)));
  }
  if (path == "/.well-known/mta-sts.txt") {
    // RFC 8461 §3.3: the policy is fetched over HTTPS only, from mta-sts.DOMAIN.
    if (!peer.tls || !host.starts_with("mta-sts.") || site.mta_sts_policy.empty())
      return not_found();
    if (!is_local(site, host.substr(std::string_view("mta-sts.").size()))) return not_found();
    if (!get_or_head(request)) return method_not_allowed("GET, HEAD");
    return answer(text_response(200, site.mta_sts_policy));
  }
  if (path == "/mobileconfig") {
    // A password crosses here: HTTPS only.
    if (!peer.tls) return not_found();
    if (!get_or_head(request)) return method_not_allowed("GET, HEAD");
    auto authorization = request.header("authorization");
    if (!authorization || !to_lower_ascii(authorization->substr(0, 6)).starts_with("basic "))
      return answer(unauthorized());
    auto decoded = base64_decode(authorization->substr(6));
    std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return answer(unauthorized());
    Plan p;
    p.need = Need::login;
    p.user = to_lower_ascii(decoded->substr(0, colon));
    p.password = decoded->substr(colon + 1);
    if (!is_local(site, domain_of(p.user))) return answer(unauthorized());
    return p;
  }
  return not_found();
}

Response health_response(const HealthFacts& facts) {
  // A disk without room for one largest message refuses mail even while the heartbeat,
  // a few bytes, still commits.
  bool disk_low = facts.disk_free_bytes && *facts.disk_free_bytes < facts.largest_message;
  bool healthy = !facts.store_error && facts.listeners_up && !disk_low;
  std::string body = healthy ? "ok\n" : "unhealthy\n";
  body +=
      "store: " + (facts.store_error ? "cannot write: " + *facts.store_error : "writable") + "\n";
  if (facts.disk_free_bytes) {
    auto kib = [](std::uint64_t bytes) { return std::to_string(bytes >> 10) + " KiB"; };
    body += "disk_free: " + kib(*facts.disk_free_bytes);
    if (disk_low)
      body += ", less than the largest message accepted (" + kib(facts.largest_message) +
              "): disk full";
    body += "\n";
  }
  body += std::string("listeners: ") + (facts.listeners_up ? "up" : "DOWN") + "\n";
  for (const auto& l : facts.listeners) body += "  " + l + "\n";
  if (facts.certificate_days)
    body += "certificate_days_left: " + std::to_string(*facts.certificate_days) + "\n";
  return text_response(healthy ? 200 : 503, std::move(body));
}

Response metrics_response(std::string text) {
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(text);
  return r;
}

Response mobileconfig_response(const Site& site, const std::string& address, LoginOutcome outcome) {
  if (outcome == LoginOutcome::temp_failure)
    return text_response(503, "the login could not be checked now; try again later\n");
  if (outcome != LoginOutcome::ok) return unauthorized();
  auto profile = mobileconfig(site, address);
  if (!profile) return text_response(404, profile.error().message + "\n");
  Response r;
  r.content_type = "application/x-apple-aspen-config";
  r.body = std::move(*profile);
  std::string name = address;
  std::replace_if(
      name.begin(), name.end(), [](char c) { return c == '"' || c == '\\'; }, '_');
  r.headers.emplace_back("Content-Disposition",
                         "attachment; filename=\"" + name + ".mobileconfig\"");
  return r;
}

}  // namespace postroom::http
