// ES256 signatures, JWK thumbprints, CSRs and self-signed certificates with OpenSSL 3.
#include "postroom/acme/crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace postroom::acme {

namespace {

std::string openssl_failure(std::string_view what) {
  unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return std::string(what) + ": " + text;
}

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Sig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using Ext = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// A coordinate of the public point, left-padded to the curve's 32 octets (RFC 7518 §6.2.1.2).
std::string coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return {};
  Bignum bn(raw);
  std::string out(32, '\0');
  BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), 32);
  return out;
}

std::string san_value(const std::vector<std::string>& names) {
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  return san;
}

bool set_cn(X509_NAME* name, const std::string& cn) {
  // A CN is at most 64 characters (RFC 5280 ub-common-name); longer names live in the SAN.
  std::string value = cn.size() <= 64 ? cn : "postroom";
  return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                    0) == 1;
}

}  // namespace

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = at(i) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned v = at(i) << 16 | at(i + 1) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string sha256(std::string_view bytes) {
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), size);
}

void EcKey::Free::operator()(EVP_PKEY* k) const {
  EVP_PKEY_free(k);
}

Result<EcKey> EcKey::generate() {
  EVP_PKEY* raw = EVP_EC_gen("P-256");
  if (!raw) return fail(openssl_failure("cannot generate a P-256 key"));
  EcKey key;
  key.key_ = std::shared_ptr<EVP_PKEY>(raw, Free{});
  return key;
}

Result<EcKey> EcKey::from_pem(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* raw = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (!raw) return fail(openssl_failure("not a PEM private key"));
  EcKey key;
  key.key_ = std::shared_ptr<EVP_PKEY>(raw, Free{});
  if (!EVP_PKEY_is_a(raw, "EC") || coordinate(raw, OSSL_PKEY_PARAM_EC_PUB_X).empty())
    return fail("not a P-256 (EC) key");
  return key;
}

std::string EcKey::pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

std::string EcKey::jwk() const {
  return R"({"crv":"P-256","kty":"EC","x":")" +
         base64url(coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X)) + R"(","y":")" +
         base64url(coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y)) + R"("})";
}

std::string EcKey::thumbprint() const {
  return base64url(sha256(jwk()));
}

Result<std::string> EcKey::sign(std::string_view data) const {
  MdCtx ctx(EVP_MD_CTX_new());
  std::size_t size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1)
    return fail(openssl_failure("ES256 signature"));
  std::string der(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &size,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return fail(openssl_failure("ES256 signature"));
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Sig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(size)));
  if (!sig) return fail(openssl_failure("ES256 signature"));
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32);
  return raw;
}

Result<std::string> make_csr(const EcKey& key, const std::vector<std::string>& names) {
  if (names.empty()) return fail("a certificate request needs at least one name");
  Req req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      !set_cn(X509_REQ_get_subject_name(req.get()), names.front()) ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1)
    return fail(openssl_failure("certificate request"));
  std::string san = san_value(names);
  Ext ext(X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  if (!ext || !exts) {
    sk_X509_EXTENSION_free(exts);
    return fail(openssl_failure("certificate request names"));
  }
  sk_X509_EXTENSION_push(exts, ext.get());
  int added = X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_free(exts);
  if (added != 1 || X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
    return fail(openssl_failure("certificate request"));
  int size = i2d_X509_REQ(req.get(), nullptr);
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &p);
  return der;
}

Result<std::string> self_signed(const EcKey& key, const std::vector<std::string>& names,
                                std::int64_t valid_seconds, std::string_view acme_identifier) {
  if (names.empty()) return fail("a certificate needs at least one name");
  X509Ptr cert(X509_new());
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // a positive INTEGER
  Bignum bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!cert || !bn || X509_set_version(cert.get(), 2) != 1 ||
      !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_seconds)) ||
      !set_cn(X509_get_subject_name(cert.get()), names.front()) ||
      X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1 ||
      X509_set_pubkey(cert.get(), key.get()) != 1)
    return fail(openssl_failure("self-signed certificate"));
  std::string san = san_value(names);
  Ext alt(X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
  if (!alt || X509_add_ext(cert.get(), alt.get(), -1) != 1)
    return fail(openssl_failure("self-signed certificate names"));
  if (!acme_identifier.empty()) {
    // RFC 8737 §3: extnValue holds the DER of Authorization ::= OCTET STRING (SIZE (32)).
    std::string der = std::string("\x04\x20", 2) + std::string(acme_identifier);
    std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>> value(
        ASN1_OCTET_STRING_new());
    std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT, ASN1_OBJECT_free>> oid(
        OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    if (!value || !oid ||
        ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>(der.data()),
                              static_cast<int>(der.size())) != 1)
      return fail(openssl_failure("acmeIdentifier"));
    Ext id(X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 1, value.get()));
    if (!id || X509_add_ext(cert.get(), id.get(), -1) != 1)
      return fail(openssl_failure("acmeIdentifier"));
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0)
    return fail(openssl_failure("self-signed certificate"));
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert.get());
  return bio_text(bio.get());
}

Result<Validity> certificate_validity(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return fail(openssl_failure("not a PEM certificate"));
  std::tm before{}, after{};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(cert.get()), &before) != 1 ||
      ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &after) != 1)
    return fail("unreadable certificate dates");
  return Validity{timegm(&before), timegm(&after)};
}

bool certificate_covers(std::string_view pem, const std::vector<std::string>& names) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return false;
  for (const auto& name : names)
    if (X509_check_host(cert.get(), name.c_str(), name.size(), X509_CHECK_FLAG_NO_WILDCARDS,
                        nullptr) != 1)
      return false;
  return true;
}

}  // namespace postroom::acme
