// Client-side SASL responses for SMTP AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN.
#pragma once

#include <string>
#include <string_view>

namespace postroom::relay::detail {

// RFC 4648 §4 base64 with padding, on one line.
std::string base64_encode(std::string_view bytes);

// RFC 4616 §2: base64("" NUL authcid NUL passwd), no authorization identity.
std::string plain_response(std::string_view username, std::string_view password);

}  // namespace postroom::relay::detail
