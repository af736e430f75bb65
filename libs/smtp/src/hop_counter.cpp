// A streaming matcher for "Received:" at the start of header lines, case-insensitive (RFC 5322
// §1.2.2).
#include "hop_counter.hpp"

#include <cctype>

namespace postroom::smtp {
namespace {
constexpr std::string_view kField = "received:";
}  // namespace

void HopCounter::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (!in_header_) return;
    if (line_start_) {
      if (c == '\n') {  // An empty line ends the header section (RFC 5322 §2.1).
        in_header_ = false;
        continue;
      }
      if (c == '\r' && !empty_line_cr_) {
        empty_line_cr_ = true;
        continue;
      }
      line_start_ = false;
      empty_line_cr_ = false;
      matched_ = 0;
    }
    if (c == '\n') {
      line_start_ = true;
      continue;
    }
    if (matched_ < 0) continue;
    if (std::tolower(static_cast<unsigned char>(c)) == kField[static_cast<std::size_t>(matched_)]) {
      if (static_cast<std::size_t>(++matched_) == kField.size()) {
        ++count_;
        matched_ = -1;
      }
    } else {
      matched_ = -1;
    }
  }
}

}  // namespace postroom::smtp
