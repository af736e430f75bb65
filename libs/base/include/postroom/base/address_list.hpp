// The addresses of an RFC 5322 address list (To:, Cc:, Bcc: field values, or a sendmail
// command-line argument): display names, comments, groups and folding are dropped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom {

// The addr-spec of every mailbox in `text` (RFC 5322 §3.4), in order, as written (not
// lower-cased or validated: parse_address does that). "Name <a@b>", "a@b (comment)",
// "group: a@b, c@d;" and "undisclosed-recipients:;" are understood. An unterminated quoted
// string, comment or angle bracket is an error.
Result<std::vector<std::string>> address_list(std::string_view text);

}  // namespace postroom
