// Base64 and the SASL PLAIN message, shared by SMTP AUTH, POP3 AUTH and the relay's client.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postroom::sasl {

// Strict RFC 4648 §4 base64 (standard alphabet, padded, no whitespace): RFC 4954 §4 and
// RFC 5034 §4 say a response that cannot be decoded is rejected, so nothing is guessed.
// libsodium does the work; only the canonical encoding of the result is accepted.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

struct PlainCredentials {
  std::string authzid;  // may be empty
  std::string authcid;
  std::string password;
};

// RFC 4616 §2: message = [authzid] NUL authcid NUL passwd, with a non-empty authcid and
// password; nullopt when malformed.
std::optional<PlainCredentials> parse_plain(std::string_view message);
// The client's PLAIN message without an authorization identity.
std::string plain_message(std::string_view user, std::string_view password);

// Overwrites a secret before its memory is released (postroom::wipe).
void wipe(std::string& secret);

}  // namespace postroom::sasl
