// Parses the arguments of MAIL FROM and RCPT TO: paths (RFC 5321 §4.1.2) and ESMTP parameters.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string_view>

#include "postroom/base/address.hpp"
#include "postroom/smtp/session.hpp"
#include "reply.hpp"

namespace postroom::smtp {

struct MailCommand {
  std::optional<Address> reverse_path;  // nullopt: "<>"
  // SIZE=n (RFC 1870 §6); UINT64_MAX when the number does not fit, which exceeds any limit.
  std::optional<std::uint64_t> size;
  BodyType body = BodyType::seven_bit;  // BODY=7BIT|8BITMIME (RFC 6152 §2)
  bool smtputf8 = false;                // SMTPUTF8 (RFC 6531 §3.4)
};

struct RcptCommand {
  // "<Postmaster>" without a domain (RFC 5321 §4.1.1.3) yields {"postmaster", ""}: the host
  // resolves it to its own postmaster.
  Address forward_path;
};

// `args` is the text after "MAIL ", e.g. "FROM:<a@b> SIZE=10". A space after the colon is
// tolerated (common client bug); the angle brackets are required. AUTH=<...> (RFC 4954 §5) is
// accepted and ignored; any other parameter is "555 5.5.4".
std::expected<MailCommand, Reply> parse_mail(std::string_view args);
// `args` is the text after "RCPT ". No RCPT parameter is supported (no DSN): any is 555.
std::expected<RcptCommand, Reply> parse_rcpt(std::string_view args);

bool is_ascii(std::string_view text);
bool is_ascii(const Address& address);

}  // namespace postroom::smtp
