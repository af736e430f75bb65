// Parses BDAT arguments; the chunk bytes themselves are consumed by the session's receiver.
#include "bdat.hpp"

#include <charconv>

#include "postroom/base/address.hpp"

namespace postroom::smtp {

std::expected<BdatCommand, Reply> parse_bdat(std::string_view args) {
  auto bad = [] { return std::unexpected(make_reply(501, "5.5.4", "Syntax: BDAT size [LAST]")); };
  std::size_t space = args.find(' ');
  std::string_view number = args.substr(0, space);
  std::string_view rest =
      space == std::string_view::npos ? std::string_view() : args.substr(space + 1);
  if (number.empty() || number.size() > 19) return bad();
  BdatCommand cmd;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), cmd.size);
  if (ec != std::errc() || ptr != number.data() + number.size()) return bad();
  if (!rest.empty()) {
    if (to_lower_ascii(rest) != "last") return bad();
    cmd.last = true;
  }
  return cmd;
}

}  // namespace postroom::smtp
