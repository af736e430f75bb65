// Signing one message (RFC 6376 §5, RFC 8463) with relaxed/relaxed canonicalization, fed
// the way it arrives: the header section once, then the body in chunks of any size, so a
// large message is hashed as it streams and never held whole. OpenSSL signs; no I/O happens
// here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/base/header_section.hpp"
#include "postroom/dkim/key.hpp"

namespace postroom::dkim {

// The header fields signed when present (RFC 6376 §5.4.1: those whose change alters what a
// reader sees or how the message is handled), lower-case.
const std::vector<std::string>& signed_fields();
// The fields also signed once more than they occur ("oversigned", RFC 6376 §8.15), so a
// second From, Subject, ... added on the way invalidates the signature instead of being
// shown to the reader under it.
const std::vector<std::string>& oversigned_fields();

// What every signer shares: for now only the clock that gives t=.
class SignerSettings {
 public:
  // `fixed_time` pins the t= tag (tests); otherwise the clock's time at signing.
  static Result<std::shared_ptr<SignerSettings>> create(
      std::optional<std::uint64_t> fixed_time = {});
  std::uint64_t now() const;

 private:
  std::optional<std::uint64_t> fixed_time_;
};

// One key to sign with: `parsed` when the caller has it (the daemon parses each key once),
// else `pem`, parsed while the signer starts.
struct SigningKey {
  std::string domain;
  std::string selector;
  Algorithm algorithm = Algorithm::rsa;
  std::string_view pem;
  std::shared_ptr<const PrivateKey> parsed = nullptr;
};

// One message's signatures in progress: one per key (an RSA and an Ed25519 signature for
// the same domain, RFC 8463 §3), sharing one body hash.
class Signer {
 public:
  // Takes the header fields to sign from `headers` (fields with no name, kept only to give
  // the section back unchanged, are not header fields and are left out). A message without
  // From cannot be signed (RFC 6376 §5.4). `id` names the message in errors.
  static Result<std::unique_ptr<Signer>> start(std::shared_ptr<SignerSettings> settings,
                                               const std::vector<SigningKey>& keys,
                                               const HeaderSection& headers, std::string_view id);
  ~Signer();
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  // The next body octets, as they will be sent (CRLF line ends, not dot-stuffed).
  Result<void> body(std::string_view bytes);
  // Ends the body and returns each DKIM-Signature field's value (without the name and the
  // colon, folded with CRLF TAB, no final line end), in key order.
  Result<std::vector<std::string>> finish();

 private:
  struct State;
  Signer();
  std::unique_ptr<State> state_;
};

}  // namespace postroom::dkim
