// The cryptography ACME needs (RFC 7515/7518 ES256, RFC 7638 thumbprints, CSRs, RFC 8737
// challenge certificates), over OpenSSL 3, as values: nothing here touches the network.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace postroom::acme {

// RFC 4648 §5 base64url without padding, as JOSE wants it.
std::string base64url(std::string_view bytes);

// A P-256 key: the ACME account key (ES256) and the certificates' keys.
class EcKey {
 public:
  static Result<EcKey> generate();
  static Result<EcKey> from_pem(std::string_view pem);
  std::string pem() const;  // PKCS#8 private key
  // RFC 7517 public JWK, members in the lexicographic order RFC 7638 §3.3 hashes them in.
  std::string jwk() const;
  // RFC 7638: base64url(SHA-256(jwk())).
  std::string thumbprint() const;
  // RFC 7518 §3.4: ES256 over `data`, the raw 64-octet R||S, not DER.
  Result<std::string> sign(std::string_view data) const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  struct Free {
    void operator()(EVP_PKEY* k) const;
  };
  std::shared_ptr<EVP_PKEY> key_;
};

// A PKCS#10 request for `names` (the first also the subject CN), DER.
Result<std::string> make_csr(const EcKey& key, const std::vector<std::string>& names);

// A self-signed certificate for `names`, PEM. With `acme_identifier` (the SHA-256 of a key
// authorization, 32 octets) it carries RFC 8737 §3's critical id-pe-acmeIdentifier extension.
Result<std::string> self_signed(const EcKey& key, const std::vector<std::string>& names,
                                std::int64_t valid_seconds, std::string_view acme_identifier = {});

struct Validity {
  std::int64_t not_before = 0;  // unix seconds
  std::int64_t not_after = 0;
};
// The validity of the first certificate in a PEM chain.
Result<Validity> certificate_validity(std::string_view pem);

// True when the first certificate of a PEM chain is valid for every name in `names`.
bool certificate_covers(std::string_view pem, const std::vector<std::string>& names);

std::string sha256(std::string_view bytes);

}  // namespace postroom::acme
