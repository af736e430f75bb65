// The client side of POP3's framing (RFC 1939 §3): what an importer needs to read replies.
#include "postroom/pop3/client_protocol.hpp"

#include <charconv>

namespace postroom::pop3 {

std::optional<StatusLine> parse_status_line(std::string_view line) {
  auto after = [&](std::string_view indicator) -> std::optional<std::string_view> {
    if (!line.starts_with(indicator)) return std::nullopt;
    std::string_view rest = line.substr(indicator.size());
    if (rest.empty()) return rest;
    if (rest.front() != ' ') return std::nullopt;  // "+OKAY" is not a status line
    return rest.substr(1);
  };
  if (auto text = after("+OK")) return StatusLine{true, *text};
  if (auto text = after("-ERR")) return StatusLine{false, *text};
  return std::nullopt;
}

std::optional<ListingLine> parse_listing_line(std::string_view line) {
  auto space = line.find(' ');
  if (space == 0 || space == std::string_view::npos) return std::nullopt;
  ListingLine out;
  auto digits = line.substr(0, space);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out.number);
  if (ec != std::errc() || end != digits.data() + digits.size() || out.number == 0)
    return std::nullopt;
  std::string_view token = line.substr(space + 1);
  // Some servers pad with more spaces or leave one at the end; the token itself has none.
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.find(' ') != std::string_view::npos) return std::nullopt;
  out.token = token;
  return out;
}

bool valid_uidl(std::string_view uidl) {
  if (uidl.empty() || uidl.size() > 70) return false;
  for (unsigned char c : uidl)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

std::size_t TransferDecoder::decode(std::string_view in, std::string& out) {
  if (done_) return 0;
  auto step = reader_.feed(in, out);
  done_ = step.done;
  return step.consumed;
}

}  // namespace postroom::pop3
