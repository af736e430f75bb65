// The BDAT command's arguments (RFC 3030 §2): a chunk size and an optional LAST.
#pragma once

#include <cstdint>
#include <expected>
#include <string_view>

#include "reply.hpp"

namespace postroom::smtp {

struct BdatCommand {
  std::uint64_t size = 0;
  bool last = false;
};

// "BDAT" SP chunk-size [SP end-marker]; chunk-size = 1*DIGIT, end-marker = "LAST".
// A malformed size is "501 5.5.4": the session cannot know how many octets follow.
std::expected<BdatCommand, Reply> parse_bdat(std::string_view args);

}  // namespace postroom::smtp
