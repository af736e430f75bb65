// What key.cpp and signer.cpp share of OpenSSL: owners for its objects, base64, reading a
// PEM private key and one signature.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

namespace postroom::dkim {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::string base64(const unsigned char* data, std::size_t size);

// The private key in `pem`; the error says what is wrong (never any of the key's content).
Result<Pkey> read_private_key(std::string_view pem);

// The signature of `message` with `key`; `digest` nullptr for Ed25519 (it hashes itself).
Result<std::string> sign(EVP_PKEY* key, const EVP_MD* digest, std::string_view message);

}  // namespace postroom::dkim
