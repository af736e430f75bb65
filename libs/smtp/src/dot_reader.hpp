// The DATA end-of-data state machine: finds "<CRLF>.<CRLF>" and removes dot-stuffing (RFC 5321
// §4.5.2).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postroom::smtp {

// End of data is only CR LF "." CR LF (the first CRLF may be the one ending the DATA command).
// Bare LF, bare CR and NUL never end a line or the data (the SMTP smuggling defence); they are
// recorded so the session can refuse the message once it has been read (RFC 5321 §2.3.8).
class DotReader {
 public:
  struct Step {
    std::size_t consumed = 0;  // input octets used, including the end-of-data sequence
    bool done = false;         // the end of data was found
  };

  // Appends the unstuffed message bytes found in `in` to `out`: at most in.size() octets, so
  // the caller's memory stays proportional to what it was given.
  Step feed(std::string_view in, std::string& out);

  bool bare_cr_or_lf() const { return bare_cr_or_lf_; }
  bool nul() const { return nul_; }
  // A text line longer than 1000 octets including CRLF (RFC 5321 §4.5.3.1.6), not counting
  // the stuffed dot.
  bool line_too_long() const { return line_too_long_; }

 private:
  enum class State { line_start, in_line, cr, dot, dot_cr };
  void text(char c, std::string& out);
  void put(char c, std::string& out);

  State state_ = State::line_start;
  std::size_t line_length_ = 0;
  bool bare_cr_or_lf_ = false;
  bool nul_ = false;
  bool line_too_long_ = false;
};

}  // namespace postroom::smtp
