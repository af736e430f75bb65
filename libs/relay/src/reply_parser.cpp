// Splits the server's byte stream into SMTP replies and renders them for logs and DSNs.
#include "postroom/relay/reply_parser.hpp"

#include <algorithm>
#include <utility>

namespace postroom::relay {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 3463 §2: class "." subject "." detail, subject and detail 1-3 digits.
// Returns the length of the code at the start of `text`, or 0.
std::size_t enhanced_code_length(std::string_view text) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
    return 0;
  }
  std::size_t pos = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (pos < text.size() && is_digit(text[pos]) && digits < 4) {
      ++pos;
      ++digits;
    }
    if (digits == 0 || digits > 3) return 0;
    if (part == 0) {
      if (pos >= text.size() || text[pos] != '.') return 0;
      ++pos;
    }
  }
  if (pos < text.size() && text[pos] != ' ') return 0;
  return pos;
}

}  // namespace

std::string Reply::enhanced_status() const {
  if (lines.empty()) return {};
  std::size_t length = enhanced_code_length(lines.front());
  if (length == 0 || lines.front()[0] - '0' != kind()) return {};
  return lines.front().substr(0, length);
}

std::string Reply::one_line() const {
  std::string out = std::to_string(code);
  std::string status = enhanced_status();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view text = lines[i];
    // Many servers repeat the enhanced code on every line ("550-5.1.1 ..."); say it once.
    if (i > 0 && !status.empty() && text.starts_with(status) &&
        (text.size() == status.size() || text[status.size()] == ' ')) {
      text.remove_prefix(std::min(text.size(), status.size() + 1));
    }
    if (text.empty()) continue;
    out += ' ';
    for (char c : text) {
      unsigned char u = static_cast<unsigned char>(c);
      out += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
  }
  if (out.size() > kMaxOneLine) {
    out.resize(kMaxOneLine - 3);
    out += "...";
  }
  return out;
}

void ReplyParser::append(std::string_view bytes) {
  lines_.append(bytes);
}

std::optional<Result<Reply>> ReplyParser::next() {
  while (auto line = lines_.next()) {
    if (line->too_long) {
      return fail("reply line longer than " + std::to_string(kMaxReplyLine) + " octets");
    }
    // RFC 5321 §4.2: Reply-code [ ("-" / SP) textstring ], the code three digits
    // with the first 2-5 and the second 0-5 (§4.2.1).
    std::string_view text = line->text;
    if (text.size() < 3 || text[0] < '2' || text[0] > '5' || text[1] < '0' || text[1] > '5' ||
        !is_digit(text[2]) || (text.size() > 3 && text[3] != '-' && text[3] != ' ')) {
      return fail("unparseable reply line");
    }
    int code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
    if (partial_.code != 0 && partial_.code != code) {
      return fail("reply line with code " + std::to_string(code) + " inside a " +
                  std::to_string(partial_.code) + " reply");
    }
    if (partial_.lines.size() >= kMaxReplyLines) {
      return fail("reply longer than " + std::to_string(kMaxReplyLines) + " lines");
    }
    partial_.code = code;
    partial_.lines.emplace_back(text.size() > 4 ? text.substr(4) : std::string_view{});
    if (text.size() > 3 && text[3] == '-') continue;
    return std::exchange(partial_, Reply{});
  }
  return std::nullopt;
}

}  // namespace postroom::relay
