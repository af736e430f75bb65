// Untrusted text made safe for one log line or error message: escaped and bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postroom {

// The first `limit` bytes of `text` with every byte outside printable US-ASCII escaped
// (CR as \r, LF as \n, NUL as \0, a tab as \t, anything else as \xNN, a backslash as \\),
// followed by "..." when `text` was longer. The result never holds a line end, so a value
// cannot forge log lines, and its length is at most 4 * limit + 3.
std::string printable(std::string_view text, std::size_t limit = 80);

// printable(text, limit) between single quotes: how an error message shows a value.
std::string quoted_value(std::string_view text, std::size_t limit = 80);

}  // namespace postroom
