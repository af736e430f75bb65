// The bare CR / bare LF / NUL scan for BDAT chunks (see line_end_checker.hpp).
#include "line_end_checker.hpp"

namespace postroom::smtp {

void LineEndChecker::feed(std::string_view bytes) {
  for (char c : bytes) {
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
