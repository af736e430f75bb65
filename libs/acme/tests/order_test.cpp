// The issuance state machine against a small scripted CA, and the renewal schedule.
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "postroom/acme/order.hpp"
#include "postroom/acme/schedule.hpp"

using namespace postroom::acme;
using nlohmann::json;

namespace {

std::string unbase64url(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    buffer = buffer << 6 | static_cast<unsigned>(kAlphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// A CA with two names to validate; what the client did is recorded for the checks.
struct FakeCa {
  std::string base = "https://ca.test";
  int nonce = 0;
  std::set<std::string> issued_nonces;
  std::set<std::string> used_nonces;
  std::vector<std::string> log;  // "METHOD path"
  bool bad_nonce_once = false;
  bool fail_second = false;  // the second name's validation fails
  std::map<std::string, std::string> authz_status = {{"/authz/1", "pending"},
                                                     {"/authz/2", "pending"}};
  int polls_until_valid = 1;
  std::set<std::string> answered;
  std::string kid_seen, jwk_seen;
  std::string csr_seen;

  std::string fresh() {
    std::string n = "nonce" + std::to_string(++nonce);
    issued_nonces.insert(n);
    return n;
  }

  Response answer(const Request& req) {
    std::string path = req.url.substr(base.size());
    Response r;
    r.nonce = fresh();
    if (req.method == Request::Method::get) {
      log.push_back("GET " + path);
      r.nonce.clear();  // as Let's Encrypt: the directory carries no nonce
      r.status = 200;
      r.body = json{{"newNonce", base + "/nonce"},
                    {"newAccount", base + "/account"},
                    {"newOrder", base + "/order"}}
                   .dump();
      return r;
    }
    if (req.method == Request::Method::head) {
      log.push_back("HEAD " + path);
      r.status = 200;
      return r;
    }
    json jws = json::parse(req.body);
    json header = json::parse(unbase64url(jws["protected"]));
    std::string payload = unbase64url(jws["payload"]);
    REQUIRE(header["alg"] == "ES256");
    REQUIRE(header["url"] == req.url);
    std::string used = header["nonce"];
    CHECK(issued_nonces.contains(used));
    CHECK(used_nonces.insert(used).second);  // never twice
    if (header.contains("jwk")) jwk_seen = header["jwk"].dump();
    if (header.contains("kid")) kid_seen = header["kid"];
    log.push_back("POST " + path);
    if (bad_nonce_once) {
      bad_nonce_once = false;
      r.status = 400;
      r.body = R"({"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"})";
      return r;
    }
    r.status = 200;
    if (path == "/account") {
      CHECK(json::parse(payload)["termsOfServiceAgreed"] == true);
      r.status = 201;
      r.location = base + "/acct/7";
    } else if (path == "/order") {
      CHECK(json::parse(payload)["identifiers"].size() == 2);
      r.status = 201;
      r.location = base + "/order/1";
      r.body = json{{"status", "pending"},
                    {"authorizations", {base + "/authz/1", base + "/authz/2"}},
                    {"finalize", base + "/finalize/1"}}
                   .dump();
    } else if (path.starts_with("/authz/")) {
      CHECK(payload.empty());  // POST-as-GET
      std::string status = authz_status[path];
      std::string name = path == "/authz/1" ? "mail.example.test" : "autoconfig.example.test";
      json challenge = {{"type", "http-01"},
                        {"url", base + "/chall" + path.substr(6)},
                        {"token", "tok" + path.substr(7)}};
      if (status == "invalid")
        challenge["error"] = {{"type", "urn:ietf:params:acme:error:connection"},
                              {"detail", "connection refused"}};
      r.body = json{{"status", status},
                    {"identifier", {{"type", "dns"}, {"value", name}}},
                    {"challenges",
                     {json{{"type", "tls-alpn-01"}, {"url", base + "/x"}, {"token", "other"}},
                      challenge}}}
                   .dump();
      // An answered challenge is validated after a poll that still shows it pending.
      if (answered.contains(path) && --polls_until_valid < 0)
        authz_status[path] = (fail_second && path == "/authz/2") ? "invalid" : "valid";
    } else if (path.starts_with("/chall/")) {
      CHECK(payload == "{}");
      answered.insert("/authz/" + path.substr(7));
      r.body = json{{"status", "processing"}}.dump();
    } else if (path == "/finalize/1") {
      csr_seen = json::parse(payload)["csr"];
      r.body = json{{"status", "processing"}}.dump();
    } else if (path == "/order/1") {
      r.body = json{{"status", "valid"}, {"certificate", base + "/cert/1"}}.dump();
    } else if (path == "/cert/1") {
      r.body = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    } else {
      r.status = 404;
    }
    return r;
  }
};

struct Run {
  Step last;
  std::vector<Challenge> published;
  std::int64_t waited_ms = 0;
};

Run drive(Order& order, FakeCa& ca) {
  Run run;
  for (int i = 0; i < 500; ++i) {
    Step step = order.next();
    if (step.kind == Step::Kind::request) {
      order.on_response(ca.answer(step.request));
    } else if (step.kind == Step::Kind::publish) {
      run.published.push_back(step.challenge);
    } else if (step.kind == Step::Kind::wait) {
      CHECK(step.wait_ms > 0);
      run.waited_ms += step.wait_ms;
    } else {
      run.last = step;
      return run;
    }
  }
  FAIL("the order never ended");
  return run;
}

Order make_order(const EcKey& key) {
  OrderSettings s;
  s.directory_url = "https://ca.test/dir";
  s.contact = "admin@example.test";
  s.names = {"mail.example.test", "autoconfig.example.test"};
  s.challenge = ChallengeType::http01;
  s.csr_der = "CSR-DER";
  return Order(s, key);
}

}  // namespace

TEST_CASE("acme order: the whole RFC 8555 flow, in order, signed, each nonce once") {
  auto key = EcKey::generate();
  REQUIRE(key);
  FakeCa ca;
  Order order = make_order(*key);
  Run run = drive(order, ca);
  REQUIRE(run.last.kind == Step::Kind::done);
  CHECK(run.last.certificate.starts_with("-----BEGIN CERTIFICATE-----"));
  REQUIRE(run.published.size() == 2);
  CHECK(run.published[0].token == "tok1");
  CHECK(run.published[0].name == "mail.example.test");
  CHECK(run.published[0].key_authorization == "tok1." + key->thumbprint());
  CHECK(run.published[1].name == "autoconfig.example.test");
  CHECK(ca.kid_seen == "https://ca.test/acct/7");
  CHECK(json::parse(ca.jwk_seen) == json::parse(key->jwk()));
  CHECK(ca.csr_seen == base64url("CSR-DER"));
  std::vector<std::string> start(ca.log.begin(), ca.log.begin() + 7);
  CHECK(start == std::vector<std::string>{"GET /dir", "HEAD /nonce", "POST /account", "POST /order",
                                          "POST /authz/1", "POST /authz/2", "POST /chall/1"});
  CHECK(ca.log.back() == "POST /cert/1");
  // Both challenges answered before the first poll, so the CA validates them together.
  auto first_poll = std::find(ca.log.begin() + 5, ca.log.end(), "POST /authz/1");
  auto second_answer = std::find(ca.log.begin(), ca.log.end(), "POST /chall/2");
  CHECK(second_answer < first_poll);
  CHECK(run.waited_ms > 0);
}

TEST_CASE("acme order: a badNonce answer is retried with the nonce it carried") {
  auto key = EcKey::generate();
  REQUIRE(key);
  FakeCa ca;
  ca.bad_nonce_once = true;
  Order order = make_order(*key);
  Run run = drive(order, ca);
  REQUIRE(run.last.kind == Step::Kind::done);
  CHECK(std::count(ca.log.begin(), ca.log.end(), "POST /account") == 2);
  CHECK(std::count(ca.log.begin(), ca.log.end(), "HEAD /nonce") == 1);
}

TEST_CASE("acme order: a failed validation ends the order with the CA's reason") {
  auto key = EcKey::generate();
  REQUIRE(key);
  FakeCa ca;
  ca.fail_second = true;
  Order order = make_order(*key);
  Run run = drive(order, ca);
  REQUIRE(run.last.kind == Step::Kind::failed);
  CHECK(run.last.error.find("autoconfig.example.test") != std::string::npos);
  CHECK(run.last.error.find("connection refused") != std::string::npos);
  CHECK(std::count(ca.log.begin(), ca.log.end(), "POST /finalize/1") == 0);
}

TEST_CASE("acme order: an unreachable CA fails with the transport error") {
  auto key = EcKey::generate();
  REQUIRE(key);
  Order order = make_order(*key);
  Step step = order.next();
  REQUIRE(step.kind == Step::Kind::request);
  Response nothing;
  nothing.error = "Couldn't connect to server";
  order.on_response(nothing);
  step = order.next();
  REQUIRE(step.kind == Step::Kind::failed);
  CHECK(step.error.find("Couldn't connect") != std::string::npos);
}

TEST_CASE("acme schedule: renewal two thirds into the lifetime, backoff after failures") {
  Validity v{1000, 1000 + 90 * 86400};
  CHECK(renew_at(v) == 1000 + 60 * 86400);
  CHECK(next_attempt({v, false, 0, 0}, 5000) == 1000 + 60 * 86400);
  // No certificate, or one missing a configured name: now.
  CHECK(next_attempt({std::nullopt, false, 0, 0}, 5000) == 5000);
  CHECK(next_attempt({v, true, 0, 0}, 5000) == 5000);
  // Failures back off: 1 min, 2 min, 4 min ... at most 6 h.
  CHECK(retry_delay(1) == 60);
  CHECK(retry_delay(2) == 120);
  CHECK(retry_delay(3) == 240);
  CHECK(retry_delay(30) == kMaxRetryDelay);
  CHECK(next_attempt({std::nullopt, false, 2, 7000}, 7001) == 7120);
  // Past the renewal time with failures: the backoff, capped by a quarter of the time left.
  std::int64_t now = 1000 + 89 * 86400;
  CHECK(next_attempt({v, false, 30, now}, now) == now + 86400 / 4);
  // A short-lived certificate (30 s) renews at 20 s and retries within seconds.
  Validity short_lived{0, 30};
  CHECK(renew_at(short_lived) == 20);
  CHECK(next_attempt({short_lived, false, 1, 21}, 21) == 23);
}
