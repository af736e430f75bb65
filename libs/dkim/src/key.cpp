// Key generation and public records through OpenSSL's EVP interface.
#include "postroom/dkim/key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "openssl_util.hpp"

namespace postroom::dkim {

namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string_view algorithm_name(Algorithm algorithm) {
  return algorithm == Algorithm::rsa ? "rsa" : "ed25519";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  if (name == "rsa") return Algorithm::rsa;
  if (name == "ed25519") return Algorithm::ed25519;
  return std::nullopt;
}

Result<std::string> generate_private_key(Algorithm algorithm) {
  Pkey key(algorithm == Algorithm::rsa
               ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(kRsaBits))
               : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return fail("cannot generate the key");
  Bio bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail("cannot write the key as PEM");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

Result<std::shared_ptr<const PrivateKey>> PrivateKey::parse(std::string_view pem,
                                                            Algorithm algorithm) {
  auto key = read_private_key(pem);
  if (!key) return std::unexpected(key.error());
  int want = algorithm == Algorithm::rsa ? EVP_PKEY_RSA : EVP_PKEY_ED25519;
  if (EVP_PKEY_get_base_id(key->get()) != want) return fail("the key is not of its algorithm");
  return std::shared_ptr<const PrivateKey>(new PrivateKey(key->release(), algorithm));
}

PrivateKey::~PrivateKey() {
  EVP_PKEY_free(key_);
}

Result<PublicKey> public_key(std::string_view private_pem) {
  auto read = read_private_key(private_pem);
  if (!read) return std::unexpected(read.error());
  Pkey key = std::move(*read);
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA: {
      // RFC 6376 §3.6.1: p= is the base64 of the DER SubjectPublicKeyInfo.
      if (EVP_PKEY_get_bits(key.get()) < 1024)
        return fail("the RSA key is shorter than 1024 bits (RFC 8301 §3.2)");
      unsigned char* der = nullptr;
      int size = i2d_PUBKEY(key.get(), &der);
      if (size <= 0) return fail("cannot encode the public key");
      std::string p = base64(der, static_cast<std::size_t>(size));
      OPENSSL_free(der);
      return PublicKey{Algorithm::rsa, "v=DKIM1; k=rsa; p=" + p};
    }
    case EVP_PKEY_ED25519: {
      // RFC 8463 §4: p= is the base64 of the raw 32-octet public key.
      unsigned char raw[32];
      size_t size = sizeof raw;
      if (EVP_PKEY_get_raw_public_key(key.get(), raw, &size) != 1 || size != sizeof raw)
        return fail("cannot read the Ed25519 public key");
      return PublicKey{Algorithm::ed25519, "v=DKIM1; k=ed25519; p=" + base64(raw, size)};
    }
    default:
      return fail("neither an RSA nor an Ed25519 key");
  }
}

std::string record_name(std::string_view selector, std::string_view domain) {
  return std::string(selector) + "._domainkey." + std::string(domain);
}

bool valid_selector(std::string_view selector) {
  if (selector.empty() || selector.size() > 253) return false;
  std::size_t start = 0;
  while (start <= selector.size()) {
    std::size_t dot = selector.find('.', start);
    std::string_view label = selector.substr(
        start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || !alnum(label.front()) || !alnum(label.back()))
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return alnum(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace postroom::dkim
