// Relaxed canonicalization, byte by byte.
#include "postroom/dkim/canon.hpp"

namespace postroom::dkim {

namespace {

constexpr std::size_t kFlushAt = 16 * 1024;

bool wsp(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

std::string relaxed_header(std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(name.size() + value.size() + 3);
  for (char c : name) {
    if (wsp(c)) continue;  // RFC 6376 §3.4.2: no whitespace before the colon
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  out += ':';
  bool space = false;
  bool started = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;  // unfold
    if (wsp(c)) {
      space = true;
      continue;
    }
    if (space && started) out += ' ';
    space = false;
    started = true;
    out += c;
  }
  out += "\r\n";
  return out;
}

void RelaxedBody::content(char c) {
  if (!line_has_content_) {
    // Empty lines inside the body are kept (RFC 6376 §3.4.4 drops only the trailing ones).
    for (; empty_lines_ > 0; --empty_lines_) buffer_ += "\r\n";
  }
  // A run of whitespace inside a line, or at its start, becomes one space.
  if (space_) buffer_ += ' ';
  space_ = false;
  line_has_content_ = true;
  buffer_ += c;
}

void RelaxedBody::end_of_line() {
  space_ = false;  // whitespace at the end of a line is ignored
  if (line_has_content_) {
    buffer_ += "\r\n";
  } else {
    ++empty_lines_;
  }
  line_has_content_ = false;
  if (buffer_.size() >= kFlushAt) flush();
}

void RelaxedBody::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (cr_) {
      cr_ = false;
      if (c == '\n') {
        end_of_line();
        continue;
      }
      content('\r');
    }
    if (c == '\r') {
      cr_ = true;
    } else if (c == '\n') {
      end_of_line();
    } else if (wsp(c)) {
      space_ = true;
    } else {
      content(c);
    }
  }
  if (buffer_.size() >= kFlushAt) flush();
}

void RelaxedBody::finish() {
  if (cr_) {
    cr_ = false;
    content('\r');
  }
  if (line_has_content_) end_of_line();
  flush();
}

void RelaxedBody::flush() {
  if (buffer_.empty()) return;
  out_(buffer_);
  buffer_.clear();
}

}  // namespace postroom::dkim
