// SMTP replies as values: code, enhanced status code (RFC 3463) and text, formatted per RFC 5321
// §4.2.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postroom::smtp {

struct Reply {
  int code = 250;
  // "2.0.0"; empty for the replies RFC 2034 §3 exempts (greeting, HELO/EHLO) and for 334/354.
  std::string enhanced;
  std::vector<std::string> lines;  // at least one; several make a multi-line reply

  bool permanent() const { return code >= 500; }
  bool transient() const { return code >= 400 && code < 500; }
  // The first line as sent, without CRLF: for logs.
  std::string first_line() const;
};

Reply make_reply(int code, std::string_view enhanced, std::string_view text);

// "250-first\r\n250 last\r\n": every line but the last has "-" after the code (RFC 5321 §4.2.1),
// and every line carries the enhanced code (RFC 2034 §3).
std::string format_reply(const Reply& reply);

}  // namespace postroom::smtp
