// Bounded extraction of the header section (RFC 5322 §2.1) from a streamed message prefix.
#include "postroom/relay/header_section.hpp"

namespace postroom::relay {

bool HeaderSectionReader::feed(std::string_view chunk) {
  for (char c : chunk) {
    if (complete_) break;
    if (c == '\n') {
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (line_.empty()) {  // The blank line: the body starts after it.
        complete_ = true;
        break;
      }
      for (char& k : line_) {
        if (k == '\r') k = ' ';
      }
      headers_ += line_;
      headers_ += "\r\n";
      line_.clear();
      continue;
    }
    // Count the CRLF this line will need; stop before the section outgrows the cap.
    if (headers_.size() + line_.size() + 1 + 2 > cap_) {
      truncated_ = true;
      complete_ = true;
      line_.clear();
      break;
    }
    line_ += c;
  }
  return complete_;
}

void HeaderSectionReader::finish() {
  if (complete_) return;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (!line_.empty()) {
    for (char& k : line_) {
      if (k == '\r') k = ' ';
    }
    headers_ += line_;
    headers_ += "\r\n";
    line_.clear();
  }
  complete_ = true;
}

std::string extract_header_section(std::string_view prefix, std::size_t cap) {
  HeaderSectionReader reader(cap);
  reader.feed(prefix);
  reader.finish();
  return reader.headers();
}

}  // namespace postroom::relay
