// Collects a stored message's header section from its first chunks, for the DSN's
// text/rfc822-headers part.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postroom::relay {

// A bounce quotes the original headers, not the body (RFC 3462
// text/rfc822-headers); 64 KiB holds any sane header section.
inline constexpr std::size_t kMaxHeaderSection = 64 * 1024;

// Reads up to the blank line that ends the header section (RFC 5322 §2.1).
// Lines come out CRLF-terminated whatever the stored line ends were (bare LF
// or CRLF); a stray CR inside a line becomes a space. The blank line itself is
// not kept. Past `cap` octets reading stops at the last whole line, a line over 998
// octets is cut there (RFC 5322 §2.1.1), and truncated() says so.
class HeaderSectionReader {
 public:
  explicit HeaderSectionReader(std::size_t cap = kMaxHeaderSection) : cap_(cap) {}

  // Returns true once the section is complete; later chunks are ignored.
  bool feed(std::string_view chunk);
  // The message ended (it had no body): keep a last unterminated line.
  void finish();

  bool complete() const { return complete_; }
  bool truncated() const { return truncated_; }
  const std::string& headers() const { return headers_; }

 private:
  void end_line();
  std::size_t cap_;
  std::string headers_;
  std::string line_;         // the current line, without its end
  std::size_t dropped_ = 0;  // octets of over-long lines not kept
  bool complete_ = false;
  bool truncated_ = false;
};

// One-shot form: the header section of a message whose first bytes are `prefix`.
std::string extract_header_section(std::string_view prefix, std::size_t cap = kMaxHeaderSection);

}  // namespace postroom::relay
