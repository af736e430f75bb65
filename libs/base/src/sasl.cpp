// Base64 through libsodium and the SASL PLAIN message (RFC 4616).
#include "postroom/base/sasl.hpp"

#include <sodium.h>

#include "postroom/base/wipe.hpp"

namespace postroom::sasl {

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &length, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size())
    return std::nullopt;
  out.resize(length);
  // Reject non-zero padding bits and other non-canonical forms: one meaning per response.
  if (base64_encode(out) != text) return std::nullopt;
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<PlainCredentials> parse_plain(std::string_view message) {
  std::size_t first = message.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  std::size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (message.find('\0', second + 1) != std::string_view::npos) return std::nullopt;
  PlainCredentials credentials{std::string(message.substr(0, first)),
                               std::string(message.substr(first + 1, second - first - 1)),
                               std::string(message.substr(second + 1))};
  if (credentials.authcid.empty() || credentials.password.empty()) return std::nullopt;
  return credentials;
}

std::string plain_message(std::string_view user, std::string_view password) {
  std::string message;
  message.reserve(user.size() + password.size() + 2);
  message += '\0';
  message += user;
  message += '\0';
  message += password;
  return message;
}

void wipe(std::string& secret) {
  postroom::wipe(secret);
}

}  // namespace postroom::sasl
