// The SASL PLAIN message (RFC 4616 §2), decoded from a base64 client response.
#include "sasl_plain.hpp"

#include <algorithm>

#include "base64.hpp"

namespace postroom::pop3::detail {

Result<PlainCredentials> parse_sasl_plain(std::string_view base64_response) {
  std::string message;
  if (base64_response != "=") {
    auto decoded = decode_base64(base64_response);
    if (!decoded) return fail("malformed base64");
    message = std::move(*decoded);
  }
  if (std::count(message.begin(), message.end(), '\0') != 2) {
    return fail("malformed PLAIN message");
  }
  std::size_t first = message.find('\0');
  std::size_t second = message.find('\0', first + 1);
  PlainCredentials credentials;
  credentials.authzid = message.substr(0, first);
  credentials.authcid = message.substr(first + 1, second - first - 1);
  credentials.password = message.substr(second + 1);
  if (credentials.authcid.empty() || credentials.password.empty()) {
    return fail("malformed PLAIN message");
  }
  return credentials;
}

}  // namespace postroom::pop3::detail
