// The bare CR / bare LF / NUL scan for BDAT chunks (see line_end_checker.hpp).
#include "line_end_checker.hpp"

namespace postroom::smtp {

void LineEndChecker::feed(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    // Ordinary octets change nothing unless they follow a CR.
    if (!after_cr_) i = ordinary_run_end(bytes, i);
    if (i == bytes.size()) break;
    char c = bytes[i++];
    if (after_cr_ && c != '\n') bare_cr_or_lf_ = true;  // the CR before this octet was bare
    if (!after_cr_ && c == '\n') bare_cr_or_lf_ = true;
    if (c == '\0') nul_ = true;
    after_cr_ = c == '\r';
  }
}

void LineEndChecker::finish() {
  if (after_cr_) bare_cr_or_lf_ = true;
  after_cr_ = false;
}

}  // namespace postroom::smtp
