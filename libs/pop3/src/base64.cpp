// Strict base64 decoding for SASL responses.
#include "base64.hpp"

#include <cstdint>

namespace postroom::pop3::detail {

namespace {

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int pads = 0;
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=') {
        // Padding only at the end of the last group, and at most two.
        if (!last || j < 2) return std::nullopt;
        ++pads;
        group <<= 6;
        continue;
      }
      int value = sextet(c);
      if (value < 0 || pads > 0) return std::nullopt;
      group = (group << 6) | static_cast<std::uint32_t>(value);
    }
    if ((pads == 1 && (group & 0xFF) != 0) || (pads == 2 && (group & 0xFFFF) != 0)) {
      return std::nullopt;  // Non-canonical: the padding bits must be zero (RFC 4648 §3.5).
    }
    out.push_back(static_cast<char>((group >> 16) & 0xFF));
    if (pads < 2) out.push_back(static_cast<char>((group >> 8) & 0xFF));
    if (pads < 1) out.push_back(static_cast<char>(group & 0xFF));
  }
  return out;
}

}  // namespace postroom::pop3::detail
