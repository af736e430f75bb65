// Formats SMTP replies, single- and multi-line (RFC 5321 §4.2.1).
#include "reply.hpp"

namespace postroom::smtp {
namespace {

std::string format_line(const Reply& reply, std::string_view text, bool last) {
  std::string out = std::to_string(reply.code);
  out.push_back(last ? ' ' : '-');
  if (!reply.enhanced.empty()) {
    out += reply.enhanced;
    if (!text.empty()) out.push_back(' ');
  }
  out += text;
  return out;
}

}  // namespace

Reply make_reply(int code, std::string_view enhanced, std::string_view text) {
  return Reply{code, std::string(enhanced), {std::string(text)}};
}

std::string Reply::first_line() const {
  return format_line(*this, lines.empty() ? std::string_view() : lines.front(), lines.size() <= 1);
}

std::string format_reply(const Reply& reply) {
  std::string out;
  if (reply.lines.empty()) return format_line(reply, "", true) + "\r\n";
  for (std::size_t i = 0; i < reply.lines.size(); ++i) {
    out += format_line(reply, reply.lines[i], i + 1 == reply.lines.size());
    out += "\r\n";
  }
  return out;
}

}  // namespace postroom::smtp
