// Client-side SASL responses for SMTP AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN.
#pragma once

#include <string>
#include <string_view>

#include "postroom/base/sasl.hpp"

namespace postroom::relay::detail {

// RFC 4616 §2: base64("" NUL authcid NUL passwd), no authorization identity.
inline std::string plain_response(std::string_view username, std::string_view password) {
  return sasl::base64_encode(sasl::plain_message(username, password));
}

}  // namespace postroom::relay::detail
