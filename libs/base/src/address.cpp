// RFC 5321 mailbox parsing shared by the admin tool, the SMTP server and the relay.
#include "postroom/base/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace postroom {
namespace {

// RFC 5321 §4.5.3.1.1 and §4.5.3.1.2.
constexpr std::size_t kMaxLocalPart = 64;
constexpr std::size_t kMaxDomain = 255;

bool is_atext(unsigned char c) {
  if (c >= 0x80) return true;  // UTF-8 (RFC 6531 §3.3)
  if (std::isalnum(c)) return true;
  constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return specials.find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!is_atext(static_cast<unsigned char>(c))) {
      return false;
    }
    prev = c;
  }
  return true;
}

bool needs_quotes(std::string_view local) {
  return !is_dot_string(local);
}

// RFC 5321 §4.1.3: "[" IPv4 "]", "[IPv6:" IPv6 "]" or "[" tag ":" dcontent "]".
bool is_address_literal(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  if (literal_ip(s)) return true;
  std::string inner(s.substr(1, s.size() - 2));
  auto colon = inner.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string tag = inner.substr(0, colon);
  std::string content = inner.substr(colon + 1);
  if (to_lower_ascii(tag) == "ipv6") return false;  // not a valid IPv6 address
  // General-address-literal: a Standardized-tag (Ldh-str) and dcontent.
  if (!is_valid_domain(tag) || tag.find('.') != std::string::npos || content.empty()) return false;
  for (char c : content) {
    auto u = static_cast<unsigned char>(c);
    // dcontent: printable US-ASCII except "[", "]" and "\\".
    if (u < 33 || u > 126 || c == '[' || c == ']' || c == '\\') return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> literal_ip(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string inner(domain.substr(1, domain.size() - 2));
  unsigned char address[16];
  if (inet_pton(AF_INET, inner.c_str(), address) == 1) return inner;
  constexpr std::string_view kIpv6Tag = "ipv6:";
  if (inner.size() > kIpv6Tag.size() &&
      to_lower_ascii(std::string_view(inner).substr(0, kIpv6Tag.size())) == kIpv6Tag) {
    std::string ip = inner.substr(kIpv6Tag.size());
    if (inet_pton(AF_INET6, ip.c_str(), address) == 1) return ip;
  }
  return std::nullopt;
}

std::string to_lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_valid_domain(std::string_view text) {
  if (text.empty() || text.size() > kMaxDomain) return false;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    std::string_view label = text.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      auto u = static_cast<unsigned char>(c);
      if (!(std::isalnum(u) || c == '-' || u >= 0x80)) return false;
    }
    start = dot + 1;
  }
  return true;
}

bool is_ascii_domain(std::string_view text) {
  return is_valid_domain(text) && std::all_of(text.begin(), text.end(), [](char c) {
           return static_cast<unsigned char>(c) < 0x80;
         });
}

Result<Address> parse_address(std::string_view text) {
  if (text.empty()) return fail("empty address");
  std::string local;
  std::size_t at;
  if (text.front() == '"') {
    // Quoted-string local part: qtextSMTP or quoted-pairSMTP (RFC 5321 §4.1.2).
    std::size_t i = 1;
    bool closed = false;
    for (; i < text.size(); ++i) {
      auto c = static_cast<unsigned char>(text[i]);
      if (c == '\\') {
        if (i + 1 >= text.size()) return fail("unterminated quoted local part");
        auto next = static_cast<unsigned char>(text[++i]);
        if (next < 32 || next > 126) return fail("bad quoted pair in local part");
        local.push_back(static_cast<char>(next));
      } else if (c == '"') {
        closed = true;
        ++i;
        break;
      } else if ((c >= 32 && c <= 126) || c >= 0x80) {
        local.push_back(static_cast<char>(c));
      } else {
        return fail("control character in local part");
      }
    }
    if (!closed) return fail("unterminated quoted local part");
    if (i >= text.size() || text[i] != '@') return fail("missing @ after quoted local part");
    at = i;
  } else {
    at = text.rfind('@');
    if (at == std::string_view::npos) return fail("missing @domain");
    local = std::string(text.substr(0, at));
    if (!is_dot_string(local)) return fail("malformed local part");
  }
  if (local.empty()) return fail("empty local part");
  if (local.size() > kMaxLocalPart) return fail("local part longer than 64 octets");
  std::string_view domain = text.substr(at + 1);
  if (domain.empty()) return fail("missing domain");
  if (!is_address_literal(domain) && !is_valid_domain(domain)) return fail("malformed domain");
  return Address{to_lower_ascii(local), to_lower_ascii(domain)};
}

std::string Address::str() const {
  if (!needs_quotes(local)) return local + "@" + domain;
  std::string out = "\"";
  for (char c : local) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"@" + domain;
}

}  // namespace postroom
