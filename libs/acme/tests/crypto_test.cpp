// The JOSE encodings and certificates ACME needs, checked against OpenSSL's own parsers.
#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "postroom/acme/crypto.hpp"

using namespace postroom::acme;

TEST_CASE("acme: base64url is RFC 4648 section 5 without padding") {
  CHECK(base64url("") == "");
  CHECK(base64url("f") == "Zg");
  CHECK(base64url("fo") == "Zm8");
  CHECK(base64url("foo") == "Zm9v");
  CHECK(base64url("foob") == "Zm9vYg");
  CHECK(base64url(std::string("\xfb\xff\xfe", 3)) == "-__-");
}

TEST_CASE("acme: a key survives PEM, its JWK is canonical and its ES256 signature verifies") {
  auto key = EcKey::generate();
  REQUIRE(key);
  auto again = EcKey::from_pem(key->pem());
  REQUIRE(again);
  CHECK(again->jwk() == key->jwk());
  auto jwk = nlohmann::json::parse(key->jwk());
  CHECK(jwk["kty"] == "EC");
  CHECK(jwk["crv"] == "P-256");
  CHECK(jwk["x"].get<std::string>().size() == 43);  // 32 octets
  CHECK(key->jwk().starts_with(R"({"crv":"P-256","kty":"EC","x":")"));
  CHECK(key->thumbprint() == base64url(sha256(key->jwk())));
  CHECK(key->thumbprint().size() == 43);

  auto sig = key->sign("header.payload");
  REQUIRE(sig);
  REQUIRE(sig->size() == 64);
  // R||S back to DER, verified by OpenSSL.
  ECDSA_SIG* der_sig = ECDSA_SIG_new();
  auto* raw = reinterpret_cast<const unsigned char*>(sig->data());
  ECDSA_SIG_set0(der_sig, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(der_sig, &der);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key->get());
  std::string data = "header.payload";
  CHECK(EVP_DigestVerify(ctx, der, der_len, reinterpret_cast<const unsigned char*>(data.data()),
                         data.size()) == 1);
  data = "header.payloaD";
  CHECK(EVP_DigestVerify(ctx, der, der_len, reinterpret_cast<const unsigned char*>(data.data()),
                         data.size()) != 1);
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  ECDSA_SIG_free(der_sig);
  CHECK_FALSE(EcKey::from_pem("not a key"));
}

TEST_CASE("acme: the CSR names every name and is signed by the certificate key") {
  auto key = EcKey::generate();
  REQUIRE(key);
  auto der = make_csr(*key, {"mail.example.test", "autoconfig.example.test"});
  REQUIRE(der);
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
  REQUIRE(req);
  CHECK(X509_REQ_verify(req, key->get()) == 1);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  auto* names =
      static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  REQUIRE(names);
  CHECK(sk_GENERAL_NAME_num(names) == 2);
  GENERAL_NAMES_free(names);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  CHECK_FALSE(make_csr(*key, {}));
}

TEST_CASE("acme: a tls-alpn-01 certificate carries the critical acmeIdentifier (RFC 8737)") {
  auto key = EcKey::generate();
  REQUIRE(key);
  std::string digest = sha256("token.thumbprint");
  auto pem = self_signed(*key, {"mail.example.test"}, 3600, digest);
  REQUIRE(pem);
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(cert);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  int at = X509_get_ext_by_OBJ(cert, oid, -1);
  REQUIRE(at >= 0);
  X509_EXTENSION* ext = X509_get_ext(cert, at);
  CHECK(X509_EXTENSION_get_critical(ext) == 1);
  ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  std::string got(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                  static_cast<std::size_t>(ASN1_STRING_length(value)));
  CHECK(got == std::string("\x04\x20", 2) + digest);
  CHECK(X509_check_host(cert, "mail.example.test", 0, 0, nullptr) == 1);
  ASN1_OBJECT_free(oid);
  X509_free(cert);

  auto validity = certificate_validity(*pem);
  REQUIRE(validity);
  CHECK(validity->not_after - validity->not_before == 3600);
  CHECK(std::abs(validity->not_before - std::time(nullptr)) < 60);
  CHECK_FALSE(certificate_validity("garbage"));
  CHECK(certificate_covers(*pem, {"mail.example.test"}));
  CHECK(certificate_covers(*pem, {"MAIL.example.test"}));
  CHECK_FALSE(certificate_covers(*pem, {"mail.example.test", "mta-sts.example.test"}));
}
