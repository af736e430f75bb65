// The mbox splitter used by `postroom import mbox`.
#include "postroom/store/mbox.hpp"

namespace postroom::store {

namespace {
bool is_blank(std::string_view line) {
  return line == "\n" || line == "\r\n";
}
}  // namespace

void MboxReader::flush_held_blank() {
  if (!held_blank_.empty()) {
    bytes_(held_blank_);
    held_blank_.clear();
  }
}

void MboxReader::line(std::string_view line) {
  if (line.rfind("From ", 0) == 0) {
    held_blank_.clear();  // the separator's preceding blank line belongs to no message
    if (in_message_) end_();
    in_message_ = true;
    ++messages_;
    start_();
    return;
  }
  if (!in_message_) return;  // junk before the first separator
  if (is_blank(line)) {
    flush_held_blank();
    held_blank_ = std::string(line);
    return;
  }
  flush_held_blank();
  std::size_t quotes = 0;
  while (quotes < line.size() && line[quotes] == '>') ++quotes;
  if (quotes > 0 && line.substr(quotes).rfind("From ", 0) == 0) line.remove_prefix(1);
  bytes_(line);
}

void MboxReader::finish() {
  held_blank_.clear();  // a trailing blank line ends the last message in mbox files too
  if (in_message_) end_();
  in_message_ = false;
}

}  // namespace postroom::store
