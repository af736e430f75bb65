// The SASL PLAIN message (RFC 4616 §2): authorization identity, user name and password.
#pragma once

#include <string>
#include <string_view>

#include "postroom/base/error.hpp"
#include "postroom/base/sasl.hpp"

namespace postroom::pop3::detail {

using PlainCredentials = sasl::PlainCredentials;

// Decodes a base64 client response ("=" stands for an empty one, RFC 5034 §4)
// and splits it as `[authzid] NUL authcid NUL passwd`. Fails when the base64
// is invalid, there are not exactly two NULs, or authcid or password is empty
// (RFC 4616 §2 requires at least one octet of each). The error text is safe to
// send and log: it never quotes the response.
Result<PlainCredentials> parse_sasl_plain(std::string_view base64_response);

}  // namespace postroom::pop3::detail
