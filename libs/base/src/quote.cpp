// Escaping and truncating values before they reach a log line or an error message.
#include "postroom/base/quote.hpp"

namespace postroom {

std::string printable(std::string_view text, std::size_t limit) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string_view shown = text.substr(0, limit);
  std::string out;
  out.reserve(shown.size() + 3);
  for (char c : shown) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\0':
        out += "\\0";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out += "\\x";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  if (text.size() > limit) out += "...";
  return out;
}

std::string quoted_value(std::string_view text, std::size_t limit) {
  return "'" + printable(text, limit) + "'";
}

}  // namespace postroom
