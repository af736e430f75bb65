// Signing one message (RFC 6376 §5, RFC 8463) with relaxed/relaxed canonicalization, fed
// the way it arrives: the header section once, then the body in chunks of any size, so a
// large message is hashed as it streams and never held whole. libopendkim does the
// canonicalization and hashing; no I/O happens here.
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

// libopendkim's library handle, set up with the policy above. One per process is enough;
// every signer shares it (on one thread: libopendkim handles are not for concurrent use).
class Library {
 public:
  // `fixed_time` pins the t= tag (tests); otherwise the clock's time at signing.
  static Result<std::shared_ptr<Library>> create(std::optional<std::uint64_t> fixed_time = {});
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  struct Handle;  // the DKIM_LIB, kept out of this header (dkim.h is C-only)
  Handle* handle() const { return handle_.get(); }

 private:
  Library() = default;
  std::unique_ptr<Handle> handle_;
};

// One key to sign with. `pem` is read while the signer starts (libopendkim copies it).
struct SigningKey {
  std::string domain;
  std::string selector;
  Algorithm algorithm = Algorithm::rsa;
  std::string_view pem;
};

// One message's signatures in progress: one per key (an RSA and an Ed25519 signature for
// the same domain, RFC 8463 §3).
class Signer {
 public:
  // Hashes `headers` (fields with no name, kept only to give the section back unchanged,
  // are not header fields and are left out). `id` names the message in libopendkim's errors.
  static Result<std::unique_ptr<Signer>> start(std::shared_ptr<Library> library,
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
  struct Signature;
  Signer() = default;
  std::shared_ptr<Library> library_;
  std::vector<std::unique_ptr<Signature>> signatures_;
  bool finished_ = false;
};

}  // namespace postroom::dkim
