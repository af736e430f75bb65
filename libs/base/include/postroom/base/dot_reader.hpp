// The end-of-data state machine shared by SMTP's DATA (RFC 5321 §4.5.2) and POP3's multi-line
// replies (RFC 1939 §3): finds "<CRLF>.<CRLF>" and removes dot-stuffing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postroom {

// The end of the run of ordinary octets (no CR, LF or NUL) in `in` starting at `from`. Both
// DATA's DotReader and BDAT's checker skip such runs at once: memchr is far faster than a
// byte loop, and CR is the only one of the three a clean message has.
std::size_t ordinary_run_end(std::string_view in, std::size_t from);

// End of data is only CR LF "." CR LF (the first CRLF may be the one ending the DATA command).
// Bare LF, bare CR and NUL never end a line or the data (the SMTP smuggling defence); they are
// recorded so the session can refuse the message once it has been read (RFC 5321 §2.3.8).
// A reader built with LineEnds::lf_too also ends lines (and the data) at a bare LF: old POP3
// servers send such replies, and an importer keeps their bytes as given.
class DotReader {
 public:
  enum class LineEnds : bool { crlf_only, lf_too };
  DotReader() = default;
  explicit DotReader(LineEnds line_ends) : lf_ends_line_(line_ends == LineEnds::lf_too) {}

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
  bool lf_ends_line_ = false;
  std::size_t line_length_ = 0;
  bool bare_cr_or_lf_ = false;
  bool nul_ = false;
  bool line_too_long_ = false;
};

}  // namespace postroom
