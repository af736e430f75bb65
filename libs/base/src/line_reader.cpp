// A bounded line splitter: the only place that searches for line ends in command mode.
#include "postroom/base/line_reader.hpp"

namespace postroom {

void LineReader::append(std::string_view bytes) {
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<Line> LineReader::next() {
  while (true) {
    std::string_view pending(buffer_.data() + start_, buffer_.size() - start_);
    // Search only within the cap (which counts the CRLF) so an unterminated line costs no more.
    std::string_view window = pending.substr(0, max_line_);
    std::size_t lf = window.find('\n');
    if (discarding_) {
      std::size_t any_lf = pending.find('\n');
      if (any_lf == std::string_view::npos) {
        buffer_.clear();
        start_ = 0;
        return std::nullopt;
      }
      start_ += any_lf + 1;
      discarding_ = false;
      Line line;
      line.too_long = true;
      return line;
    }
    if (lf == std::string_view::npos) {
      if (pending.size() >= max_line_) {
        discarding_ = true;  // Loop again: drop what we have and look for the line's end.
        continue;
      }
      if (start_ > 0) {  // Compact so the buffer never holds more than one partial line.
        buffer_.erase(0, start_);
        start_ = 0;
      }
      return std::nullopt;
    }
    Line line;
    std::size_t end = lf;
    if (end > 0 && pending[end - 1] == '\r') {
      --end;
    } else {
      line.bare_lf = true;
    }
    line.text.assign(pending.substr(0, end));
    start_ += lf + 1;
    return line;
  }
}

std::string LineReader::take_buffered() {
  std::string rest = buffer_.substr(start_);
  buffer_.clear();
  start_ = 0;
  discarding_ = false;
  return rest;
}

}  // namespace postroom
