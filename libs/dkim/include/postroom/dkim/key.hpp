// DKIM keys: generating a private key, telling its algorithm, and the public TXT record
// (RFC 6376 §3.6.1, RFC 8463 §4) a domain publishes for it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace postroom::dkim {

// rsa-sha256 (RFC 6376 §3.3.1) or ed25519-sha256 (RFC 8463).
enum class Algorithm { rsa, ed25519 };

// "rsa" / "ed25519", as the admin command takes and prints them.
std::string_view algorithm_name(Algorithm algorithm);
std::optional<Algorithm> parse_algorithm(std::string_view name);

// RSA keys are 2048 bits: what RFC 8301 §3.2 asks signers for, and what every big receiver
// accepts; 4096-bit records do not fit DNS forms that cap a TXT value.
constexpr int kRsaBits = 2048;

// A private key parsed once, when the keys are loaded, and used for every message it signs:
// parsing a PEM key costs more than an RSA-2048 signature. Signing only reads it, so one
// key serves any number of messages at once.
class PrivateKey {
 public:
  // The error says what is wrong with the key (never any of its content), including a key
  // that is not of `algorithm`.
  static Result<std::shared_ptr<const PrivateKey>> parse(std::string_view pem, Algorithm algorithm);
  ~PrivateKey();
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  Algorithm algorithm() const { return algorithm_; }
  ::evp_pkey_st* native() const { return key_; }

 private:
  PrivateKey(::evp_pkey_st* key, Algorithm algorithm) : key_(key), algorithm_(algorithm) {}
  ::evp_pkey_st* key_;
  Algorithm algorithm_;
};

// A new private key in PEM (PKCS #8). The caller wipes it after use.
Result<std::string> generate_private_key(Algorithm algorithm);

// A PEM private key's algorithm and public record. The error says what is wrong with the key
// (never any of its content).
struct PublicKey {
  Algorithm algorithm;
  std::string record;  // the TXT value: "v=DKIM1; k=rsa; p=MIIB..."
};
Result<PublicKey> public_key(std::string_view private_pem);

// The DNS name the record goes at: SELECTOR._domainkey.DOMAIN (RFC 6376 §3.6.2.1).
std::string record_name(std::string_view selector, std::string_view domain);

// A selector is one or more DNS labels (RFC 6376 §3.1): letters, digits and inner hyphens,
// dot-separated, each 1-63 octets. Checked before it names a file.
bool valid_selector(std::string_view selector);

}  // namespace postroom::dkim
