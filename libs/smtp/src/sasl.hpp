// SASL helpers for SMTP AUTH (RFC 4954): base64 and the PLAIN (RFC 4616) and LOGIN messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postroom::smtp {

// Strict RFC 4648 §4 base64: length a multiple of 4, padding only at the end, no whitespace.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

struct PlainCredentials {
  std::string authzid;
  std::string authcid;
  std::string password;
};

// message = [authzid] NUL authcid NUL passwd (RFC 4616 §2); nullopt when malformed.
std::optional<PlainCredentials> parse_plain(std::string_view message);

// Overwrites a secret before its memory is released.
void wipe(std::string& secret);

}  // namespace postroom::smtp
