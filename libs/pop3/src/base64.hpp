// Strict base64 decoding for SASL responses (RFC 4648 §4, as RFC 5034 §4 requires).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postroom::pop3::detail {

// Decodes padded base64 with the standard alphabet. Returns nullopt for any
// character outside it, a length that is not a multiple of four, misplaced
// padding or non-zero padding bits: RFC 5034 §4 says a response that cannot be
// decoded must be rejected, so nothing is guessed.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace postroom::pop3::detail
