// DKIM verification against messages signed by dkimpy (tests/data/make_dkim_fixtures.py),
// good and tampered; and the canonicalization rules on their own.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "postroom/mailauth/dkim.hpp"
#include "postroom/mailauth/dkim_canon.hpp"

using namespace postroom;
using namespace postroom::mailauth;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::pair<std::string, std::string>> read_pairs(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

std::string canonical_body(std::string_view body, Canon canon, std::size_t chunk,
                           std::int64_t limit = -1) {
  std::string out;
  BodyCanonicalizer c(canon, limit, [&](std::string_view s) { out.append(s); });
  for (std::size_t i = 0; i < body.size(); i += chunk) c.feed(body.substr(i, chunk));
  c.finish();
  return out;
}

// Verifies one message, its body fed in pieces of `chunk` octets.
std::vector<DkimOutcome> verify_message(const std::string& message, std::size_t chunk) {
  std::string dir = std::string(POSTROOM_TEST_DATA) + "/dkim/";
  std::size_t end = message.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  HeaderSection headers = HeaderSection::parse(std::string_view(message).substr(0, end + 2));
  std::string body = message.substr(end + 4);
  DkimVerifier verifier(headers, 1'800'000'000);
  for (std::size_t i = 0; i < body.size(); i += chunk)
    verifier.body(std::string_view(body).substr(i, chunk));
  verifier.end_body();
  DnsCache dns;
  auto first = verifier.verify(dns);
  if (first) return *first;                 // decided without a key (rsa-sha1, RFC 8301)
  CHECK_FALSE(dns.take_missing().empty());  // otherwise it asks for the key first
  verifier.verify(dns);
  auto keys = read_pairs(dir + "keys.txt");
  for (auto& [type, name] : dns.take_missing()) {
    DnsAnswer answer{DnsStatus::not_found, {}};
    for (auto& [key_name, record] : keys)
      if (key_name == name) answer = {DnsStatus::ok, {record}};
    dns.put(type, name, answer);
  }
  auto outcome = verifier.verify(dns);
  REQUIRE(outcome.has_value());
  return *outcome;
}

}  // namespace

TEST_CASE(
    "dkim: messages signed by dkimpy and by OpenDKIM verify as expected, whole and byte by byte") {
  std::string dir = std::string(POSTROOM_TEST_DATA) + "/dkim/";
  auto expected = read_pairs(dir + "expected.txt");
  REQUIRE(expected.size() >= 18);
  for (auto& [name, want] : expected) {
    std::string message = read_file(dir + name + ".eml");
    REQUIRE(!message.empty());
    for (std::size_t chunk : {message.size(), std::size_t{7}, std::size_t{1}}) {
      auto outcomes = verify_message(message, chunk);
      REQUIRE(outcomes.size() == 1);
      INFO(name << " chunk " << chunk << ": " << outcomes[0].reason);
      CHECK(std::string(dkim_result_name(outcomes[0].result)) == want);
      CHECK(outcomes[0].domain == "example.org");
    }
  }
}

TEST_CASE("dkim: outcome names the signature (d=, s=, a=, b= prefix)") {
  std::string dir = std::string(POSTROOM_TEST_DATA) + "/dkim/";
  auto outcomes = verify_message(read_file(dir + "ed25519_relaxed_relaxed.eml"), 4096);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == DkimResult::pass);
  CHECK(outcomes[0].selector == "ed");
  CHECK(outcomes[0].algorithm == "ed25519-sha256");
  CHECK(outcomes[0].identity == "@example.org");
  CHECK(outcomes[0].b_prefix.size() == 8);
}

TEST_CASE("dkim: a message without a signature has nothing to verify") {
  HeaderSection headers = HeaderSection::parse("From: a@example.org\r\nSubject: x\r\n");
  DkimVerifier verifier(headers, 0);
  verifier.body("hello\r\n");
  CHECK(!verifier.has_signatures());
  DnsCache dns;
  auto outcome = verifier.verify(dns);
  REQUIRE(outcome.has_value());
  CHECK(outcome->empty());
}

TEST_CASE("dkim: a signature missing required tags is neutral without any lookup") {
  HeaderSection headers = HeaderSection::parse(
      "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=from; bh=AAAA\r\n"
      "From: a@example.org\r\n");
  DkimVerifier verifier(headers, 0);
  DnsCache dns;
  auto outcome = verifier.verify(dns);
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->size() == 1);
  CHECK((*outcome)[0].result == DkimResult::neutral);
  CHECK(dns.take_missing().empty());
}

TEST_CASE("dkim canon: RFC 6376 §3.4.5's example, fed whole and byte by byte") {
  std::string body = " C \r\nD \t E\r\n\r\n\r\n";
  for (std::size_t chunk : {body.size(), std::size_t{1}}) {
    CHECK(canonical_body(body, Canon::relaxed, chunk) == " C\r\nD E\r\n");
    CHECK(canonical_body(body, Canon::simple, chunk) == " C \r\nD \t E\r\n");
  }
  CHECK(canonical_header("A", " X\r\n", Canon::relaxed) == "a:X\r\n");
  CHECK(canonical_header("B ", " Y\t\r\n\tZ  ", Canon::relaxed) == "b:Y Z\r\n");
  CHECK(canonical_header("A", " X", Canon::simple) == "A: X\r\n");
}

TEST_CASE("dkim canon: empty bodies, a missing last CRLF, and l=") {
  CHECK(canonical_body("", Canon::simple, 1) == "\r\n");
  CHECK(canonical_body("", Canon::relaxed, 1) == "");
  CHECK(canonical_body("\r\n\r\n", Canon::simple, 1) == "\r\n");
  CHECK(canonical_body("\r\n  \r\n", Canon::relaxed, 1) == "");
  CHECK(canonical_body("abc", Canon::simple, 1) == "abc\r\n");
  CHECK(canonical_body("abc  ", Canon::relaxed, 2) == "abc\r\n");
  CHECK(canonical_body("abcdef\r\n", Canon::simple, 3, 4) == "abcd");
}
