// DKIM public keys derived from PEM private keys, as OpenSSL writes them.
#include "postroom/dnsadmin/dkim_key.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

using namespace postroom::dnsadmin;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("dkim_key_test_" + std::to_string(getpid()));
  fs::create_directories(dir / "example.test");
  return dir;
}
void write_key(EVP_PKEY* key, const fs::path& file) {
  FILE* f = std::fopen(file.c_str(), "w");
  REQUIRE(f);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}
}  // namespace

TEST_CASE("dkim keys: RSA gives the base64 SubjectPublicKeyInfo, Ed25519 the raw 32 octets") {
  auto dir = temp_dir();
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  REQUIRE(rsa);
  REQUIRE(ed);
  write_key(rsa, dir / "example.test" / "s1.pem");
  write_key(ed, dir / "example.test" / "s2.pem");

  auto keys = list_dkim_keys(dir, "example.test");
  REQUIRE(keys);
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].selector == "s1");
  CHECK((*keys)[0].algorithm == "rsa");
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(rsa, &der);
  std::string expected(4 * ((len + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(expected.data()), der, len);
  OPENSSL_free(der);
  CHECK((*keys)[0].public_key == expected);
  CHECK((*keys)[1].selector == "s2");
  CHECK((*keys)[1].algorithm == "ed25519");
  CHECK((*keys)[1].public_key.size() == 44);  // 32 octets in base64
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ed);

  CHECK(list_dkim_keys(dir, "other.test")->empty());
  std::FILE* bad = std::fopen((dir / "example.test" / "s3.pem").c_str(), "w");
  std::fputs("not a key\n", bad);
  std::fclose(bad);
  auto broken = list_dkim_keys(dir, "example.test");
  REQUIRE_FALSE(broken);
  CHECK(broken.error().message.find("s3.pem") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("dkim keys: record tags with folded whitespace") {
  auto tags = parse_tags("v=DKIM1; k=rsa;\n p=MIIB Ij AN ;");
  REQUIRE(tags.size() == 3);
  CHECK(tags[2].first == "p");
  CHECK(tags[2].second == "MIIBIjAN");
  CHECK(parse_tags("hello world").empty());
}
