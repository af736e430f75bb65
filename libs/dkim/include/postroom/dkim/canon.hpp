// Relaxed canonicalization (RFC 6376 §3.4.2 for header fields, §3.4.4 for the body). The body
// canonicalizer is a small state machine fed chunks of any size: it holds back only what a
// later byte may still change (whitespace before a line end, empty lines before the end of
// the body), as counts, never as buffered text.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace postroom::dkim {

// One header field as it is hashed: lower-case name, ":", the value unfolded with runs of
// whitespace made one space and none at either end, then CRLF. `value` is everything after
// the colon, folding line ends included.
std::string relaxed_header(std::string_view name, std::string_view value);

class RelaxedBody {
 public:
  // `out` receives the canonical body in pieces.
  explicit RelaxedBody(std::function<void(std::string_view)> out) : out_(std::move(out)) {}
  // The next octets of the body. A line ends at LF, with or without CR before it.
  void feed(std::string_view bytes);
  // The body ended: a last line without a line end gets one; trailing empty lines go.
  void finish();

 private:
  void content(char c);
  void end_of_line();
  void flush();

  std::function<void(std::string_view)> out_;
  std::string buffer_;           // canonical octets not yet handed to out_
  std::size_t empty_lines_ = 0;  // empty lines seen, written only if content follows
  bool space_ = false;           // whitespace seen since the last content on this line
  bool line_has_content_ = false;
  bool cr_ = false;  // a CR that is a line end if LF follows, else content
};

}  // namespace postroom::dkim
