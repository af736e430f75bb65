// Mail addresses (RFC 5321 §4.1.2 Mailbox): parsing and the normalized form we store.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

namespace postroom {

// A parsed mailbox. Both parts are lower-cased: postroom matches addresses
// case-insensitively, local part included (interface.md).
struct Address {
  std::string local;   // unquoted local part ("john doe" for "\"john doe\"@x")
  std::string domain;  // domain name or address literal ("[192.0.2.1]")

  std::string str() const;  // local@domain, the local part re-quoted if it needs it
  bool operator==(const Address&) const = default;
};

// Parses `local@domain` per RFC 5321 Mailbox: a dot-string or quoted-string
// local part (at most 64 octets), a domain name or address literal (at most
// 255 octets). UTF-8 is accepted in both parts (RFC 6531).
Result<Address> parse_address(std::string_view text);

// True when `text` is a syntactically valid domain name (letters, digits,
// hyphens, UTF-8; labels of 1-63 octets; no leading or trailing hyphen).
bool is_valid_domain(std::string_view text);

// True when `text` is an RFC 5321 Domain in US-ASCII only: labels of letters, digits and
// hyphens (1-63 octets, no leading or trailing hyphen), at most 255 octets. What may go out in
// a greeting or an EHLO to a peer that never announced SMTPUTF8.
bool is_ascii_domain(std::string_view text);

std::string to_lower_ascii(std::string_view text);

// The IP address an address-literal domain names (RFC 5321 §4.1.3): "192.0.2.1" for
// "[192.0.2.1]", "2001:db8::1" for "[IPv6:2001:db8::1]". nullopt for anything else: a
// domain name, a General-address-literal, a malformed literal.
std::optional<std::string> literal_ip(std::string_view domain);

}  // namespace postroom
