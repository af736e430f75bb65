// Byte-at-a-time DATA decoding: a state needs no lookahead, so any split of the input works.
#include "postroom/base/dot_reader.hpp"

#include <cstring>

namespace postroom {
namespace {
// RFC 5321 §4.5.3.1.6: 1000 octets including CRLF.
constexpr std::size_t kMaxTextLine = 998;
}  // namespace

std::size_t ordinary_run_end(std::string_view in, std::size_t from) {
  const char* begin = in.data() + from;
  std::size_t length = in.size() - from;
  const void* cr = std::memchr(begin, '\r', length);
  std::size_t end = cr ? static_cast<const char*>(cr) - begin : length;
  for (char special : {'\n', '\0'}) {
    if (const void* hit = std::memchr(begin, special, end))
      end = static_cast<const char*>(hit) - begin;
  }
  return from + end;
}

void DotReader::put(char c, std::string& out) {
  out.push_back(c);
  if (++line_length_ > kMaxTextLine) line_too_long_ = true;
}

// A character inside a line (not at its start).
void DotReader::text(char c, std::string& out) {
  if (c == '\r') {
    state_ = State::cr;
    return;
  }
  if (c == '\n' && lf_ends_line_) {
    out.push_back(c);
    line_length_ = 0;
    state_ = State::line_start;
    return;
  }
  if (c == '\n') bare_cr_or_lf_ = true;
  if (c == '\0') nul_ = true;
  state_ = State::in_line;
  put(c, out);
}

DotReader::Step DotReader::feed(std::string_view in, std::string& out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    // Fast path: inside a line, copy ordinary octets in bulk.
    if (state_ == State::in_line || (state_ == State::line_start && in[i] != '.')) {
      std::size_t end = ordinary_run_end(in, i);
      if (end > i) {
        out.append(in.data() + i, end - i);
        line_length_ += end - i;
        if (line_length_ > kMaxTextLine) line_too_long_ = true;
        state_ = State::in_line;
        i = end - 1;
        continue;
      }
    }
    char c = in[i];
    switch (state_) {
      case State::line_start:
        if (c == '.') {
          state_ = State::dot;
        } else {
          text(c, out);
        }
        break;
      case State::in_line:
        text(c, out);
        break;
      case State::cr:
        if (c == '\n') {
          out += "\r\n";
          line_length_ = 0;
          state_ = State::line_start;
        } else {
          bare_cr_or_lf_ = true;  // The CR held back was bare.
          put('\r', out);
          text(c, out);
        }
        break;
      case State::dot:
        // RFC 5321 §4.5.2: a leading dot with more on the line is deleted.
        if (c == '\r') {
          state_ = State::dot_cr;
        } else if (c == '\n' && lf_ends_line_) {
          state_ = State::line_start;
          line_length_ = 0;
          return Step{i + 1, true};
        } else {
          text(c, out);
        }
        break;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::line_start;
          line_length_ = 0;
          return Step{i + 1, true};
        }
        bare_cr_or_lf_ = true;  // ".\r" followed by something else: a bare CR, not the end.
        put('\r', out);
        text(c, out);
        break;
    }
  }
  return Step{in.size(), false};
}

}  // namespace postroom
