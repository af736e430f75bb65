// argon2id hashes with libsodium; APOP's MD5 with OpenSSL.
#include "postroom/auth/password.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstdio>
#include <mutex>

namespace postroom::auth {

namespace {

bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace

Result<std::string> hash_password(std::string_view password) {
  if (!sodium_ready()) return fail("libsodium failed to initialize");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kArgonOpsLimit, kArgonMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return fail("out of memory while hashing the password");
  return std::string(out);
}

bool verify_password(const std::string& encoded_hash, std::string_view password) {
  if (!sodium_ready()) return false;
  return crypto_pwhash_str_verify(encoded_hash.c_str(), password.data(), password.size()) == 0;
}

const std::string& dummy_hash() {
  static const std::string hash = [] {
    unsigned char random[16];
    sodium_ready();
    randombytes_buf(random, sizeof random);
    auto h = hash_password(std::string_view(reinterpret_cast<char*>(random), sizeof random));
    return h ? *h : std::string();
  }();
  return hash;
}

std::string apop_digest(std::string_view timestamp, std::string_view secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, timestamp.data(), timestamp.size());
  EVP_DigestUpdate(ctx, secret.data(), secret.size());
  EVP_DigestFinal_ex(ctx, md, &length);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  char byte[3];
  for (unsigned i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", md[i]);
    hex += byte;
  }
  return hex;
}

bool verify_apop(std::string_view timestamp, std::string_view secret, std::string_view digest) {
  std::string expected = apop_digest(timestamp, secret);
  if (digest.size() != expected.size()) return false;
  std::string lower(digest);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return sodium_memcmp(lower.data(), expected.data(), expected.size()) == 0;
}

}  // namespace postroom::auth
