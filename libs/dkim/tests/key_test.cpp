// Key generation, the public records derived from a private key, selector names.
#include "postroom/dkim/key.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

using namespace postroom::dkim;

TEST_CASE("dkim: a generated RSA key is 2048-bit PEM and gives a k=rsa record") {
  auto pem = generate_private_key(Algorithm::rsa);
  REQUIRE(pem);
  CHECK(pem->starts_with("-----BEGIN PRIVATE KEY-----\n"));
  auto pub = public_key(*pem);
  REQUIRE(pub);
  CHECK(pub->algorithm == Algorithm::rsa);
  CHECK(pub->record.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"));  // SPKI of a 2048-bit key
  CHECK(pub->record.size() == std::string("v=DKIM1; k=rsa; p=").size() + 392);
  CHECK(pub->record.find("PRIVATE") == std::string::npos);
}

TEST_CASE("dkim: a generated Ed25519 key gives a k=ed25519 record of the raw 32-octet key") {
  auto pem = generate_private_key(Algorithm::ed25519);
  REQUIRE(pem);
  auto pub = public_key(*pem);
  REQUIRE(pub);
  CHECK(pub->algorithm == Algorithm::ed25519);
  REQUIRE(pub->record.starts_with("v=DKIM1; k=ed25519; p="));
  CHECK(pub->record.size() == std::string("v=DKIM1; k=ed25519; p=").size() + 44);
}

TEST_CASE("dkim: two generated keys differ") {
  CHECK(*generate_private_key(Algorithm::ed25519) != *generate_private_key(Algorithm::ed25519));
}

TEST_CASE("dkim: what is not a usable private key is an error") {
  CHECK_FALSE(public_key(""));
  CHECK_FALSE(public_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
  // An EC P-256 key is a valid PEM key, but DKIM signs with RSA or Ed25519 only.
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  REQUIRE(ec);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  auto r = public_key(std::string(data, static_cast<std::size_t>(size)));
  BIO_free(bio);
  EVP_PKEY_free(ec);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "neither an RSA nor an Ed25519 key");
}

TEST_CASE("dkim: algorithm names and record names") {
  CHECK(parse_algorithm("rsa") == Algorithm::rsa);
  CHECK(parse_algorithm("ed25519") == Algorithm::ed25519);
  CHECK_FALSE(parse_algorithm("RSA"));
  CHECK_FALSE(parse_algorithm("dsa"));
  CHECK(algorithm_name(Algorithm::ed25519) == "ed25519");
  CHECK(record_name("s1", "example.test") == "s1._domainkey.example.test");
}

TEST_CASE("dkim: selectors are DNS labels, so they can never name another path") {
  for (auto good : {"s1", "2026-12", "a.b", "x", "postroom-20261202-rsa"}) {
    CAPTURE(good);
    CHECK(valid_selector(good));
  }
  for (auto bad : {"", "-a", "a-", "a..b", ".a", "a.", "../x", "a/b", "a b", "a_b", "é",
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_selector(bad));
  }
}
