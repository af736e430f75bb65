// Bounded extraction of the header section (RFC 5322 §2.1) from a streamed message prefix.
#include "postroom/relay/header_section.hpp"

namespace postroom::relay {

namespace {
// RFC 5322 §2.1.1: a line is at most 998 characters; longer ones are cut so the DSN that
// quotes them stays valid.
constexpr std::size_t kMaxLine = 998;
}  // namespace

void HeaderSectionReader::end_line() {
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  for (char& k : line_) {
    if (k == '\r') k = ' ';
  }
  if (line_.size() > kMaxLine) line_.resize(kMaxLine);
  headers_ += line_;
  headers_ += "\r\n";
  line_.clear();
}

bool HeaderSectionReader::feed(std::string_view chunk) {
  for (char c : chunk) {
    if (complete_) break;
    if (c == '\n') {
      if (line_.empty() || line_ == "\r") {  // The blank line: the body starts after it.
        complete_ = true;
        break;
      }
      end_line();
      continue;
    }
    // Count the CRLF this line will need; stop before the section outgrows the cap.
    if (headers_.size() + line_.size() + dropped_ + 1 + 2 > cap_) {
      truncated_ = true;
      complete_ = true;
      line_.clear();
      break;
    }
    if (line_.size() > kMaxLine) {  // one spare octet for the CR of a CRLF
      truncated_ = true;            // the rest of an over-long line is dropped...
      ++dropped_;                   // ...but still counts against the cap
      continue;
    }
    line_ += c;
  }
  return complete_;
}

void HeaderSectionReader::finish() {
  if (complete_) return;
  if (!line_.empty() && line_ != "\r") end_line();
  complete_ = true;
}

std::string extract_header_section(std::string_view prefix, std::size_t cap) {
  HeaderSectionReader reader(cap);
  reader.feed(prefix);
  reader.finish();
  return reader.headers();
}

}  // namespace postroom::relay
