// The SASL PLAIN message (RFC 4616 §2), decoded from a base64 client response.
#include "sasl_plain.hpp"

namespace postroom::pop3::detail {

Result<PlainCredentials> parse_sasl_plain(std::string_view base64_response) {
  std::string message;
  if (base64_response != "=") {
    auto decoded = sasl::base64_decode(base64_response);
    if (!decoded) return fail("malformed base64");
    message = std::move(*decoded);
  }
  auto credentials = sasl::parse_plain(message);
  sasl::wipe(message);
  if (!credentials) return fail("malformed PLAIN message");
  return std::move(*credentials);
}

}  // namespace postroom::pop3::detail
