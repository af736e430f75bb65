// The tag=value lists of DKIM signatures and key records (RFC 6376 §3.2) and of DMARC
// records (RFC 7489 §6.4). Internal.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postroom::mailauth {

struct Tag {
  std::string name;   // as written, case kept (DKIM tag names are case-sensitive)
  std::string value;  // folding whitespace at both ends removed, inside kept
};

// nullopt: malformed (a tag without "=", an invalid name, or a tag named twice).
std::optional<std::vector<Tag>> parse_tag_list(std::string_view text);

const Tag* find_tag(const std::vector<Tag>& tags, std::string_view name);

// The value with all whitespace removed (b=, bh=, p= may be folded anywhere).
std::string strip_whitespace(std::string_view value);

// Standard base64, whitespace ignored; nullopt on any other stray character.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace postroom::mailauth
