// Routing and the documents: which request gets which answer, and what the documents say.
#include <doctest/doctest.h>

#include "postroom/http/metrics.hpp"
#include "postroom/http/site.hpp"

using namespace postroom::http;

namespace {

Site site() {
  Site s;
  s.hostname = "mail.example.test";
  s.domains = {"example.test", "other.test"};
  s.offers = ordered({{Offer::Protocol::pop3, Offer::Security::starttls, 110},
                      {Offer::Protocol::submission, Offer::Security::starttls, 587},
                      {Offer::Protocol::pop3, Offer::Security::implicit_tls, 995},
                      {Offer::Protocol::submission, Offer::Security::implicit_tls, 465}});
  s.mta_sts_policy = "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 1\r\n";
  return s;
}

Request get(std::string path, std::string host, std::string query = {}) {
  Request r;
  r.method = "GET";
  r.path = std::move(path);
  r.host = std::move(host);
  r.query = std::move(query);
  return r;
}

int status(const Request& r, Peer peer = {}) {
  Plan p = plan(r, site(), peer);
  REQUIRE(p.need == Need::nothing);
  return p.response.status;
}

}  // namespace

TEST_CASE("router: Thunderbird autoconfig for the office's domains only") {
  Plan p = plan(get("/mail/config-v1.1.xml", "autoconfig.example.test"), site(), {});
  REQUIRE(p.need == Need::nothing);
  CHECK(p.response.status == 200);
  const std::string& xml = p.response.body;
  // Implicit TLS first (RFC 8314), every listener described with its own security.
  auto ssl995 = xml.find("<port>995</port>\n      <socketType>SSL</socketType>");
  auto tls110 = xml.find("<port>110</port>\n      <socketType>STARTTLS</socketType>");
  CHECK(ssl995 != std::string::npos);
  CHECK(tls110 != std::string::npos);
  CHECK(ssl995 < tls110);
  CHECK(xml.find("<port>465</port>\n      <socketType>SSL</socketType>") != std::string::npos);
  CHECK(xml.find("<port>587</port>\n      <socketType>STARTTLS</socketType>") != std::string::npos);
  CHECK(xml.find("<username>%EMAILADDRESS%</username>") != std::string::npos);
  CHECK(status(get("/mail/config-v1.1.xml", "autoconfig.stranger.test")) == 404);
  CHECK(status(get("/mail/config-v1.1.xml", "example.test")) == 404);
  CHECK(status(get("/.well-known/autoconfig/mail/config-v1.1.xml", "example.test")) == 200);
  CHECK(status(get("/.well-known/autoconfig/mail/config-v1.1.xml", "mail.example.test",
                   "emailaddress=bob%40other.test")) == 200);
  CHECK(status(get("/.well-known/autoconfig/mail/config-v1.1.xml", "example.test",
                   "emailaddress=bob%40stranger.test")) == 404);
}

TEST_CASE("router: Autodiscover POST: SSL on only for implicit TLS, Encryption TLS for STARTTLS") {
  Request r = get("/Autodiscover/Autodiscover.xml", "autodiscover.example.test");
  CHECK(status(r) == 405);
  r.method = "POST";
  r.body =
      "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/"
      "autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>alice@example.test"
      "</EMailAddress></Request></Autodiscover>";
  Plan p = plan(r, site(), {});
  REQUIRE(p.need == Need::nothing);
  CHECK(p.response.status == 200);
  const std::string& xml = p.response.body;
  CHECK(xml.find("<Port>995</Port>\n        <LoginName>alice@example.test</LoginName>\n"
                 "        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n"
                 "        <SSL>on</SSL>") != std::string::npos);
  CHECK(xml.find("<Port>587</Port>\n        <LoginName>alice@example.test</LoginName>\n"
                 "        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n"
                 "        <SSL>off</SSL>\n        <Encryption>TLS</Encryption>") !=
        std::string::npos);
  r.body = "<Autodiscover><Request><EMailAddress>eve@stranger.test</EMailAddress></Request>";
  CHECK(status(r) == 404);
  r.body = "<Autodiscover/>";
  CHECK(status(r) == 400);
}

TEST_CASE("router: MTA-STS and mobileconfig over HTTPS only; metrics only when allowed") {
  Request sts = get("/.well-known/mta-sts.txt", "mta-sts.example.test");
  CHECK(status(sts) == 404);
  Plan p = plan(sts, site(), {.tls = true});
  CHECK(p.response.status == 200);
  CHECK(p.response.body == site().mta_sts_policy);
  CHECK(status(get("/.well-known/mta-sts.txt", "mta-sts.stranger.test"), {.tls = true}) == 404);

  Request config = get("/mobileconfig", "mail.example.test");
  CHECK(status(config) == 404);
  CHECK(status(config, {.tls = true}) == 401);
  config.headers.emplace_back("authorization", "Basic YWxpY2VAZXhhbXBsZS50ZXN0OnNlY3JldA==");
  Plan login = plan(config, site(), {.tls = true});
  CHECK(login.need == Need::login);
  CHECK(login.user == "alice@example.test");
  CHECK(login.password == "secret");

  CHECK(status(get("/metrics", "x")) == 403);
  CHECK(plan(get("/metrics", "x"), site(), {.metrics_allowed = true}).need == Need::metrics);
  CHECK(plan(get("/healthz", "x"), site(), {}).need == Need::health);
  CHECK(status(get("/", "example.test")) == 404);
  CHECK(status(get("/etc/passwd", "example.test")) == 404);
}

TEST_CASE("router: the profile names the best listeners and no password; 401 after a bad login") {
  auto profile = mobileconfig(site(), "alice@example.test");
  REQUIRE(profile);
  CHECK(profile->find("<key>IncomingMailServerPortNumber</key>\n      <integer>995</integer>") !=
        std::string::npos);
  CHECK(profile->find("<key>OutgoingMailServerPortNumber</key>\n      <integer>465</integer>") !=
        std::string::npos);
  CHECK(profile->find("Password</key>\n      <string>") == std::string::npos);
  CHECK(*profile == *mobileconfig(site(), "alice@example.test"));  // stable identifiers
  CHECK(mobileconfig_response(site(), "alice@example.test", LoginOutcome::bad_credentials).status ==
        401);
  Site pop_only = site();
  std::erase_if(pop_only.offers,
                [](const Offer& o) { return o.protocol == Offer::Protocol::submission; });
  CHECK_FALSE(mobileconfig(pop_only, "alice@example.test"));
}

TEST_CASE("router: health is 503 when the store cannot write; metrics text has every family") {
  HealthFacts ok{.store_error = std::nullopt,
                 .listeners = {"smtp 127.0.0.1:25"},
                 .listeners_up = true,
                 .certificate_days = 80,
                 .disk_free_bytes = 2 << 20,
                 .largest_message = 1 << 20};
  auto healthy = health_response(ok);
  CHECK(healthy.status == 200);
  CHECK(healthy.body.find("certificate_days_left: 80") != std::string::npos);
  CHECK(healthy.body.find("disk_free: 2048 KiB\n") != std::string::npos);
  HealthFacts low = ok;
  low.disk_free_bytes = (1 << 20) - 1;
  auto full = health_response(low);
  CHECK(full.status == 503);
  CHECK(full.body.find("less than the largest message accepted (1024 KiB): disk full") !=
        std::string::npos);
  ok.store_error = "disk I/O error";
  CHECK(health_response(ok).status == 503);

  Metrics m;
  m.refuse("dnsbl");
  m.refuse("dnsbl");
  Gauges g;
  g.queue_depth = 3;
  g.disk_free_bytes = 4096;
  g.commit_latency = {{0.01, 0.1}, {1, 2}, 3, 0.5};
  std::string text = render_metrics(m, g);
  CHECK(text.find("postroom_messages_refused_total{reason=\"dnsbl\"} 2\n") != std::string::npos);
  CHECK(text.find("postroom_queue_depth 3\n") != std::string::npos);
  CHECK(text.find("postroom_disk_free_bytes 4096\n") != std::string::npos);
  CHECK(text.find("postroom_store_commit_seconds_bucket{le=\"0.1\"} 2\n") != std::string::npos);
  CHECK(text.find("postroom_store_commit_seconds_count 3\n") != std::string::npos);
}
